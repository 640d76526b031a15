"""The record store: what hospitals sent, as current records with their history, and the one audited
read path through which every reader gets at them."""
