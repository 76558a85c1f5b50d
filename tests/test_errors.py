"""The error tree: stable codes and RFC 9457 bodies."""

from hub.errors import HubError, SchemaInvalid, SignatureError, XmlNotWellFormed


def test_problem_body_carries_code_status_and_extras() -> None:
    err = XmlNotWellFormed("Start tag expected", line=1, column=5)
    body = err.to_problem()
    assert body["code"] == "xml.not_well_formed"
    assert body["status"] == 400
    assert (body["line"], body["column"]) == (1, 5)


def test_signature_error_takes_specific_code() -> None:
    err = SignatureError("digest mismatch", code="signature.invalid")
    assert err.code == "signature.invalid"
    assert err.status == 403
    assert SignatureError("x", code="signature.untrusted").code == "signature.untrusted"


def test_every_code_is_unique_per_class() -> None:
    def walk(cls: type[HubError]) -> list[type[HubError]]:
        out = [cls]
        for sub in cls.__subclasses__():
            out.extend(walk(sub))
        return out

    codes = [c.code for c in walk(HubError)]
    assert len(codes) == len(set(codes))
    assert SchemaInvalid("bad", path="/a").to_problem()["path"] == "/a"


def test_errors_survive_pickling_across_processes() -> None:
    import pickle

    err = pickle.loads(  # noqa: S301 - our own bytes
        pickle.dumps(XmlNotWellFormed("bad", line=3, column=7))
    )
    assert isinstance(err, XmlNotWellFormed)
    assert (err.line, err.column, err.code) == (3, 7, "xml.not_well_formed")
    sig = pickle.loads(  # noqa: S301 - our own bytes
        pickle.dumps(SignatureError("x", code="signature.profile"))
    )
    assert sig.code == "signature.profile"
    assert sig.status == 403
