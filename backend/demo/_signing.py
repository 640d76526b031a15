"""The demo hospitals sign what a patient carries to the next hospital (contract §3.4): each facility's
prescriptions, follow-up letters and referral letters by a `Provenance` with a detached JWS, and its QĐ130
envelope by an XMLDSig in `CHUKYDONVI`, so `make run` shows "verified by {facility}" beside "not signed".

Each facility's key is derived from SECRET_KEY (dev only, like the demo staff), and its self-signed
certificate is registered once: the same key on every run, so a second run adds no certificate."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.jwk import ECKey
from lxml import etree  # type: ignore[import-untyped]  # signxml's own parser; no stubs
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from backend.signatures import Certificate, read_pem

SIGNED_KINDS = ("MedicationRequest", "ServiceRequest", "Appointment")  # what the next hospital relies on
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_VALIDITY = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2035, 1, 1, tzinfo=UTC))
_XMLDSIG = "http://www.w3.org/2000/09/xmldsig#"
_PLACEHOLDER = f'<Signature Id="placeholder" xmlns="{_XMLDSIG}"/>'.encode()


class DemoSigner:
    """One demo facility's key and certificate."""

    def __init__(self, secret_key: str, code: str, name: str) -> None:
        seed = hmac.new(secret_key.encode(), f"demo signing key {code}".encode(), hashlib.sha256).digest()
        self.key = ec.derive_private_key(int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1())
        self.code = code
        self.certificate_pem = _self_signed(self.key, f"{name} (demo)")
        self.certificate: Certificate = read_pem(self.certificate_pem)

    def sign_bundle(self, bundle: dict[str, Any], when: datetime) -> dict[str, Any]:
        """The bundle with a signature Provenance for each entry a next hospital relies on."""
        signed = [entry for entry in bundle["entry"] if entry["resource"]["resourceType"] in SIGNED_KINDS]
        provenances = [self._provenance(entry, when) for entry in signed]
        return {**bundle, "entry": [*bundle["entry"], *provenances]}

    def sign_envelope(self, envelope: bytes) -> bytes:
        """The envelope with its enveloped XMLDSig in `CHUKYDONVI` (ECDSA-SHA256, SHA-256, C14N 1.1)."""
        holder = envelope.replace(b"<CHUKYDONVI></CHUKYDONVI>", b"<CHUKYDONVI>" + _PLACEHOLDER + b"</CHUKYDONVI>")
        root = etree.fromstring(holder, etree.XMLParser(resolve_entities=False, no_network=True))
        signer = XMLSigner(
            signature_algorithm=SignatureMethod.ECDSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_1,
        )
        signed = signer.sign(root, key=self.key, cert=self.certificate_pem.decode("ascii"))
        body: bytes = etree.tostring(signed, encoding="utf-8")
        return b'<?xml version="1.0" encoding="utf-8"?>' + body

    def _provenance(self, entry: dict[str, Any], when: datetime) -> dict[str, Any]:
        resource = entry["resource"]
        header = {"alg": "ES256", "kid": self.certificate.fingerprint}
        whole = jws.serialize_compact(header, rfc8785.dumps(resource), ECKey.import_key(self.key))
        protected, _, signature = whole.split(".")
        detached = f"{protected}..{signature}"  # RFC 7515 App. F: the payload is the resource itself
        organization = {"reference": f"Organization/{self.code}"}
        provenance = {
            "resourceType": "Provenance",
            "target": [{"reference": entry["fullUrl"]}],
            "recorded": when.isoformat(timespec="seconds"),
            "agent": [{"who": organization}],
            "signature": [
                {
                    "type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
                    "when": when.isoformat(timespec="seconds"),
                    "who": organization,
                    "sigFormat": "application/jose",
                    "data": base64.b64encode(detached.encode("ascii")).decode("ascii"),
                }
            ],
        }
        full_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, entry['fullUrl'] + ' signature')}"
        return {"fullUrl": full_url, "resource": provenance, "request": {"method": "POST", "url": "Provenance"}}


def _self_signed(key: ec.EllipticCurvePrivateKey, common_name: str) -> bytes:
    name = x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    serial = int.from_bytes(hashlib.sha256(common_name.encode()).digest()[:16], "big") >> 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(_VALIDITY[0])
        .not_valid_after(_VALIDITY[1])
    )
    # Deterministic ECDSA (RFC 6979): the same certificate, fingerprint and `kid` on every run.
    certificate = builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    return certificate.public_bytes(Encoding.PEM)
