"""The patient's read side: what their book shows, from stored FHIR to what a person reads."""
