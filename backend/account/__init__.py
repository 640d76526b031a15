"""The patient's own account, as `/settings` shows it: the books and phones, the sessions signed in,
consent, closing the account (`closing`), and what is kept afterwards and for how long (`retention`)."""
