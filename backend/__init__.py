"""Sổ Sức Khỏe: the patient-held electronic health book (backend)."""
