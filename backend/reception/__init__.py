"""The reception desk (contract §6 `/reception`): a receptionist scans a patient's share QR code and sees
what was shared, where each record came from and whether its signature holds, prints a one-page summary
and downloads the FHIR Bundle for their hospital's system."""
