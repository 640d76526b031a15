"""Hospital staff accounts (receptionists and facility admins): their credentials and their management
from the `healthbook staff` command. Sign-in and staff pages build on these."""
