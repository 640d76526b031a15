"""Sign entries of a FHIR Bundle for Sổ Sức Khỏe (contract §3.4; docs/hospital-api.md B.9.2).

Each signed entry gets one `Provenance` entry, appended to the bundle, whose `signature[0].data` is the
standard base64 of a compact JWS with a detached payload (`header..signature`, RFC 7515 Appendix F),
ES256 or RS256, over the RFC 8785 canonical JSON of the entry's `resource` exactly as it will be sent.

    .venv/bin/python docs/examples/sign_bundle.py BUNDLE.json KEY.pem CERT.pem --facility 01929 \\
        --out SIGNED.json [FULLURL ...]

Without FULLURLs it signs every MedicationRequest, ServiceRequest and Appointment entry. `--when` sets the
signing time (default: now, +07:00); the certificate must be valid then. Prints the `kid` (the fingerprint
`healthbook facility set-certificate` printed for CERT.pem) and what it signed. Sign last: a signed
resource changed afterwards comes out `invalid`. Needs cryptography, joserfc and rfc8785.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

VIETNAM = timezone(timedelta(hours=7))
SIGNED_BY_DEFAULT = {"MedicationRequest", "ServiceRequest", "Appointment"}
AUTHORS_SIGNATURE = {  # ISO/ASTM E1762-95 signature type, as in the samples
    "system": "urn:iso-astm:E1762-95:2013",
    "code": "1.2.840.10065.1.12.1.1",
    "display": "Author's Signature",
}


def fingerprint(certificate: x509.Certificate) -> str:
    """base64url (no padding) of the SHA-256 of the certificate's DER: the JWS `kid`."""
    digest = hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def signing_key(key_pem: bytes, certificate: x509.Certificate) -> tuple[str, ECKey | RSAKey]:
    """The JWS algorithm and key, once we know the key belongs to the certificate."""
    private = load_pem_private_key(key_pem, password=None)
    spki = Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
        raise SystemExit("the private key does not belong to the certificate")
    if isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(private.curve, ec.SECP256R1):
        return "ES256", ECKey.import_key(key_pem)
    if isinstance(private, rsa.RSAPrivateKey) and private.key_size >= 2048:
        return "RS256", RSAKey.import_key(key_pem)
    raise SystemExit("only EC P-256 (ES256) and RSA keys of 2048 bits or more (RS256) are accepted")


def detached_jws(resource: dict[str, Any], alg: str, key: ECKey | RSAKey, kid: str) -> str:
    """`header..signature`: the payload (the canonical JSON) travels in the bundle, not in the JWS."""
    token = jws.serialize_compact({"alg": alg, "kid": kid}, rfc8785.dumps(resource), key)
    header, _payload, signature = token.split(".")
    return f"{header}..{signature}"


def provenance(target: str, facility: str, when: str, compact_jws: str) -> dict[str, Any]:
    organization = {"reference": f"Organization/{facility}"}
    return {
        "resourceType": "Provenance",
        "target": [{"reference": target}],  # exactly one target: the signed entry's fullUrl
        "recorded": when,
        "agent": [{"who": organization}],
        "signature": [
            {
                "type": [AUTHORS_SIGNATURE],
                "when": when,  # required: the certificate must be valid at this time
                "who": organization,
                "sigFormat": "application/jose",
                "data": base64.b64encode(compact_jws.encode("ascii")).decode("ascii"),
            }
        ],
    }


def sign_bundle(
    bundle: dict[str, Any], key_pem: bytes, cert_pem: bytes, facility: str, targets: list[str], when: datetime
) -> tuple[str, list[str]]:
    """Append a Provenance for each target (a fullUrl; none = the default types); the kid and what was signed."""
    certificate = x509.load_pem_x509_certificate(cert_pem)
    if not certificate.not_valid_before_utc <= when <= certificate.not_valid_after_utc:
        raise SystemExit(f"the certificate is not valid at {when.isoformat()}")
    alg, key = signing_key(key_pem, certificate)
    kid = fingerprint(certificate)

    # What can be signed: entries with a fullUrl and a resource (not DELETEs).
    entries = {
        entry["fullUrl"]: entry["resource"]
        for entry in bundle["entry"]
        if "fullUrl" in entry and "resource" in entry and entry.get("request", {}).get("method") != "DELETE"
    }
    if not targets:
        targets = [url for url, resource in entries.items() if resource["resourceType"] in SIGNED_BY_DEFAULT]
    stamp = when.isoformat(timespec="seconds")
    signed = []
    for url in targets:
        if url not in entries:
            raise SystemExit(f"no entry of the bundle has the fullUrl {url} and a resource")
        resource = entries[url]
        entry: dict[str, Any] = {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": provenance(url, facility, stamp, detached_jws(resource, alg, key, kid)),
        }
        if bundle.get("type") in ("transaction", "batch"):
            entry["request"] = {"method": "POST", "url": "Provenance"}
        bundle["entry"].append(entry)
        signed.append(f"{url} {resource['resourceType']}/{resource.get('id', '')}")
    return kid, signed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("key", type=Path, help="the private key (PEM, unencrypted)")
    parser.add_argument("cert", type=Path, help="the certificate registered for the facility (PEM)")
    parser.add_argument("fullurls", nargs="*", help="the entries to sign (default: see above)")
    parser.add_argument("--facility", required=True, help="your facility code (mã CSKCB), e.g. 01929")
    parser.add_argument("--out", type=Path, required=True, help="where to write the signed bundle")
    parser.add_argument("--when", type=datetime.fromisoformat, help="signing time with its zone (default: now)")
    args = parser.parse_intermixed_args()  # the fullUrls may come after the options

    when = args.when or datetime.now(VIETNAM).replace(microsecond=0)
    if when.tzinfo is None:
        raise SystemExit("--when needs a time zone, e.g. 2025-10-02T10:50:00+07:00")
    bundle = json.loads(args.bundle.read_text(encoding="utf-8"))
    key, cert = args.key.read_bytes(), args.cert.read_bytes()
    kid, signed = sign_bundle(bundle, key, cert, args.facility, args.fullurls, when)
    # Write exactly what was signed; from here on, send these bytes as they are (B.2).
    args.out.write_text(json.dumps(bundle, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"kid {kid}")
    for line in signed:
        print(f"signed {line}")


if __name__ == "__main__":
    main()
