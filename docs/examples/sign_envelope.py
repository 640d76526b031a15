"""Sign a QĐ130 `GIAMDINHHS` envelope for Sổ Sức Khỏe (contract §3.4; docs/hospital-api.md B.9.3).

Puts an enveloped XMLDSig into `CHUKYDONVI`: one `Reference URI=""` over the whole envelope, transforms
enveloped-signature and C14N 1.1, SHA-256 digest, ECDSA-SHA256 (EC P-256 key) or RSA-SHA256 (RSA key).

    .venv/bin/python docs/examples/sign_envelope.py ENVELOPE.xml KEY.pem CERT.pem --out SIGNED.xml

`THONGTINHOSO/NGAYLAP` is the signing date: the certificate must be valid on that day (Vietnam time). Sign
last, when the envelope is complete, and send the output's bytes as they are. Needs signxml (lxml,
cryptography).
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod, SignatureMethod
from signxml.signer import XMLSigner

VIETNAM = timezone(timedelta(hours=7))
DS = "http://www.w3.org/2000/09/xmldsig#"


def signature_method(key_pem: bytes, certificate: x509.Certificate) -> SignatureMethod:
    """ECDSA-SHA256 or RSA-SHA256, once we know the key belongs to the certificate."""
    private = load_pem_private_key(key_pem, password=None)
    spki = Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
        raise SystemExit("the private key does not belong to the certificate")
    if isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(private.curve, ec.SECP256R1):
        return SignatureMethod.ECDSA_SHA256
    if isinstance(private, rsa.RSAPrivateKey) and private.key_size >= 2048:
        return SignatureMethod.RSA_SHA256
    raise SystemExit("only EC P-256 and RSA keys of 2048 bits or more are accepted")


def signing_day(ngaylap: str) -> tuple[datetime, datetime]:
    """The first and last instant of NGAYLAP's day (yyyymmdd, or yyyymmddHHMM: the day counts), Vietnam time."""
    day = datetime.strptime(ngaylap[:8], "%Y%m%d").replace(tzinfo=VIETNAM)
    return day, day + timedelta(days=1, microseconds=-1)


def sign_envelope(envelope: bytes, key_pem: bytes, cert_pem: bytes) -> tuple[bytes, str, str]:
    """The signed envelope's bytes, its MACSKCB and NGAYLAP."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(envelope, parser)
    if root.tag != "GIAMDINHHS":
        raise SystemExit(f"the root is <{root.tag}>, not <GIAMDINHHS>: only an envelope carries CHUKYDONVI")
    ngaylap = (root.findtext("THONGTINHOSO/NGAYLAP") or "").strip()
    if len(ngaylap) not in (8, 12) or not ngaylap.isdigit():
        raise SystemExit("THONGTINHOSO/NGAYLAP (yyyymmdd or yyyymmddHHMM) is the signing date: set it first")

    certificate = x509.load_pem_x509_certificate(cert_pem)
    first, last = signing_day(ngaylap)
    if certificate.not_valid_before_utc > last or certificate.not_valid_after_utc < first:  # valid some time that day
        raise SystemExit(f"the certificate is not valid on NGAYLAP {ngaylap[:8]} (Vietnam time)")
    method = signature_method(key_pem, certificate)

    chukydonvi = root.find("CHUKYDONVI")
    if chukydonvi is None:
        chukydonvi = etree.SubElement(root, "CHUKYDONVI")
    if len(chukydonvi) or (chukydonvi.text or "").strip():
        raise SystemExit("CHUKYDONVI is not empty: this envelope is signed already")
    # signxml replaces this placeholder with the signature, and leaves it out of what it digests.
    etree.SubElement(chukydonvi, f"{{{DS}}}Signature", {"Id": "placeholder"}, nsmap={None: DS})

    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_1,
    )
    signed = signer.sign(root, key=key_pem, cert=cert_pem.decode("ascii"))
    macskcb = root.findtext("THONGTINDONVI/MACSKCB") or ""
    return etree.tostring(signed, xml_declaration=True, encoding="utf-8"), macskcb, ngaylap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("envelope", type=Path, help="the GIAMDINHHS envelope, with an empty CHUKYDONVI")
    parser.add_argument("key", type=Path, help="the private key (PEM, unencrypted)")
    parser.add_argument("cert", type=Path, help="the certificate registered for the facility (PEM)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the signed envelope")
    args = parser.parse_args()

    signed, macskcb, ngaylap = sign_envelope(args.envelope.read_bytes(), args.key.read_bytes(), args.cert.read_bytes())
    args.out.write_bytes(signed)  # send these bytes as they are (B.8.6): no pretty-printing, no re-encoding
    print(f"signed the envelope of {macskcb}, NGAYLAP {ngaylap}, into CHUKYDONVI of {args.out}")


if __name__ == "__main__":
    main()
