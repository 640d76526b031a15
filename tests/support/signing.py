"""Signing as a hospital would (contract §3.4), for tests: the sample facilities' test keys and
certificates, fresh certificates with chosen validity, detached JWS signatures over RFC 8785 JSON, and
enveloped XMLDSig in CHUKYDONVI.

The JWS here is made by hand with `cryptography`, not with the library the verifier uses, so the two
check each other against the RFCs rather than agree by construction.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, TypeVar, overload

import defusedxml.ElementTree as SafeXml
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from cryptography.x509.oid import NameOID
from signxml.algorithms import DigestAlgorithm, SignatureConstructionMethod, SignatureMethod
from signxml.signer import XMLSigner

from backend.signatures import Certificate, read_pem
from tests.support.hospital import SAMPLES

SIGNING = SAMPLES / "signing"
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey  # what signs documents
CertificateKey = PrivateKey | ed25519.Ed25519PrivateKey
AnyKey = TypeVar("AnyKey", ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey, PrivateKey)
SIGNED_AT = "2025-10-02T10:50:00+07:00"  # when the sample bundle was signed
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
_EMPTY_HOLDER = re.compile(rb"<CHUKYDONVI\s*/>|<CHUKYDONVI>\s*</CHUKYDONVI>")
_PLACEHOLDER = (
    b'<CHUKYDONVI><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="placeholder"/></CHUKYDONVI>'
)


def sample_key(code: str) -> PrivateKey:
    """The test-only private key of sample facility `code` (01929 signs the FHIR sample, 01002 the XML)."""
    key = load_pem_private_key((SIGNING / f"{code}-key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    return key


def sample_cert_pem(code: str) -> bytes:
    return (SIGNING / f"{code}-cert.pem").read_bytes()


def sample_certificate(code: str) -> Certificate:
    return read_pem(sample_cert_pem(code))


def new_key(kind: str = "EC", bits: int = 2048) -> PrivateKey:
    """A fresh EC P-256 key, or an RSA key of `bits`."""
    if kind == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


class Validity(TypedDict):
    not_before: datetime
    not_after: datetime


@overload
def make_certificate(
    key: None = None, *, not_before: datetime, not_after: datetime, common_name: str = ...
) -> tuple[ec.EllipticCurvePrivateKey, bytes]: ...


@overload
def make_certificate(
    key: AnyKey, *, not_before: datetime, not_after: datetime, common_name: str = ...
) -> tuple[AnyKey, bytes]: ...


def make_certificate(
    key: CertificateKey | None = None,
    *,
    not_before: datetime,
    not_after: datetime,
    common_name: str = "Bệnh viện thử (TEST ONLY)",
) -> tuple[CertificateKey, bytes]:
    """(private key, PEM of a self-signed certificate for it); a new EC P-256 key unless `key` is given
    (RSA of any size, another EC curve, Ed25519: what the registry must refuse too)."""
    key = key if key is not None else new_key()
    name = x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )
    return key, certificate.public_bytes(Encoding.PEM)


def years_around(moment: datetime, before: int = 1, after: int = 1) -> Validity:
    """Validity keywords for `make_certificate`: from `before` years before `moment` to `after` after."""
    return {"not_before": moment - timedelta(days=365 * before), "not_after": moment + timedelta(days=365 * after)}


def kid_of(pem: bytes) -> str:
    """The JWS `kid` of a certificate: base64url SHA-256 of its DER (x5t#S256)."""
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    return b64url(hashlib.sha256(der).digest())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact_jws(header: dict[str, Any], payload: bytes, private_key: PrivateKey, *, detached: bool = True) -> str:
    """A compact JWS (RFC 7515) signed with ES256 (EC key) or RS256 (RSA key), whatever `alg` the header
    claims; the payload part left empty when detached (Appendix F)."""
    header_b64 = b64url(json.dumps(header, separators=(",", ":")).encode())
    signing_input = f"{header_b64}.{b64url(payload)}".encode("ascii")
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        size = (private_key.curve.key_size + 7) // 8
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        signature = private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header_b64}.{'' if detached else b64url(payload)}.{b64url(signature)}"


def as_data(compact: str) -> str:
    """`Signature.data`: standard base64 of the compact JWS."""
    return base64.b64encode(compact.encode("ascii")).decode("ascii")


def sign_resource(
    resource: dict[str, Any], private_key: PrivateKey, *, kid: str | None, alg: str = "ES256", **header: Any
) -> str:
    """The `Signature.data` a facility sends for `resource`: a detached JWS over its RFC 8785 JSON."""
    protected: dict[str, Any] = {"alg": alg, **({"kid": kid} if kid is not None else {}), **header}
    return as_data(compact_jws(protected, rfc8785.dumps(resource), private_key))


def provenance_entry(target_url: str, data: str, *, when: str | None = SIGNED_AT) -> dict[str, Any]:
    """A signature Provenance entry for the entry whose fullUrl is `target_url`."""
    signature: dict[str, Any] = {
        "type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
        "who": {"reference": "Organization/01929"},
        "sigFormat": "application/jose",
        "data": data,
    }
    if when is not None:
        signature["when"] = when
    resource = {
        "resourceType": "Provenance",
        "target": [{"reference": target_url}],
        "recorded": when or SIGNED_AT,
        "agent": [{"who": {"reference": "Organization/01929"}}],
        "signature": [signature],
    }
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": resource,
        "request": {"method": "POST", "url": "Provenance"},
    }


def signed_bundle(
    bundle: dict[str, Any],
    private_key: PrivateKey,
    kid: str | None,
    targets: list[int],
    when: str | None = SIGNED_AT,
    alg: str = "ES256",
) -> dict[str, Any]:
    """A copy of `bundle` with a signature Provenance appended for each entry index in `targets`."""
    signed = copy.deepcopy(bundle)
    for index in targets:
        target = signed["entry"][index]
        data = sign_resource(target["resource"], private_key, kid=kid, alg=alg)
        signed["entry"].append(provenance_entry(target["fullUrl"], data, when=when))
    return signed


class _Sha1Signer(XMLSigner):
    """signxml refuses to make SHA-1 signatures; the verifier must meet real ones, so tests make them."""

    def check_deprecated_methods(self) -> None:
        return None


def sign_envelope(xml_bytes: bytes, private_key: PrivateKey, cert_pem: bytes, *, sha1: bool = False) -> bytes:
    """The envelope with an enveloped XMLDSig (C14N 1.1, one Reference URI="") in its empty CHUKYDONVI,
    made as a HIS would: ECDSA or RSA by the key, SHA-256 (or SHA-1 when asked, for the refusal test)."""
    holder = _EMPTY_HOLDER.search(xml_bytes)
    assert holder is not None, "the envelope needs an empty CHUKYDONVI"
    prepared = xml_bytes[: holder.start()] + _PLACEHOLDER + xml_bytes[holder.end() :]
    is_ec = isinstance(private_key, ec.EllipticCurvePrivateKey)
    if sha1:
        method = SignatureMethod.ECDSA_SHA1 if is_ec else SignatureMethod.RSA_SHA1
        signer: XMLSigner = _Sha1Signer(SignatureConstructionMethod.enveloped, method, DigestAlgorithm.SHA1, C14N11)
    else:
        method = SignatureMethod.ECDSA_SHA256 if is_ec else SignatureMethod.RSA_SHA256
        signer = XMLSigner(SignatureConstructionMethod.enveloped, method, DigestAlgorithm.SHA256, C14N11)
    # signxml wants an element for an enveloped signature; it copies a standard-library one into lxml.
    signed = signer.sign(SafeXml.fromstring(prepared), key=private_key, cert=cert_pem.decode("ascii"))
    out = io.BytesIO()
    signed.getroottree().write(out, xml_declaration=True, encoding="utf-8")
    return out.getvalue()


def utc(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)
