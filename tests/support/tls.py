"""Certificates for TLS tests (etcd, the fake Kubernetes API), minted with openssl per test session."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    """A CA that signed nothing here: verifying etcd with it must fail."""


def openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run([OPENSSL, *map(str, args)], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        key,
        "-out",
        cert,
        cwd=directory,
    )
    return key, cert


def make_cert(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    key, csr, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    ext_file = directory / f"{name}.ext"
    ext_file.write_text(extensions)
    openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        f"/CN={name}",
        "-keyout",
        key,
        "-out",
        csr,
        cwd=directory,
    )
    openssl(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca[1],
        "-CAkey",
        ca[0],
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        cert,
        "-extfile",
        ext_file,
        cwd=directory,
    )
    return cert, key


def make_tls_files(directory: Path) -> TlsFiles:
    ca = make_ca(directory, "test-ca")
    _, other_ca = make_ca(directory, "other-ca")
    server = make_cert(
        directory, "server", ca, "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    )
    client = make_cert(directory, "client", ca, "extendedKeyUsage=clientAuth\n")
    return TlsFiles(ca[1], server[0], server[1], client[0], client[1], other_ca)


def make_server_pki(directory: Path) -> Path:
    """`ca.crt` and a server certificate for 127.0.0.1 (`server.crt`, `server.key`) in `directory`."""
    ca = make_ca(directory, "ca")
    make_cert(
        directory,
        "server",
        ca,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n",
    )
    return directory
