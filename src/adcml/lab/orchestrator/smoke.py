"""``adcml lab token`` and ``adcml lab smoke``: a token from the lab's IdP, the gateway checked
end to end through its TLS frontend (its spillover to the Hugging Face endpoint in
``spillover``), and how to try the lab (the end of ``make lab``)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import httpx

from adcml.lab.orchestrator.errors import LabError
from adcml.lab.orchestrator.layout import LAB_HF_NAMESPACE, Lab
from adcml.lab.orchestrator.spillover import assert_token_unseen, check_spillover
from adcml.lab.services.idp_client import IdPError, LabIdPClient

AUDIENCE = "adcml-lab"
TRUSTED_GROUP = "ml-trusted"
Echo = Callable[[str], None]


def token(lab: Lab, user: str, groups: Iterable[str] = (), audience: str = AUDIENCE) -> str:
    """An ID token for ``user`` from the lab's running IdP."""
    try:
        return LabIdPClient(lab.layout.issuer).token(user, groups=list(groups), audience=audience)
    except (IdPError, httpx.HTTPError) as exc:
        raise LabError(f"no token from the lab IdP at {lab.layout.issuer}: {exc} "
                       "(is the lab up? adcml lab status)") from None


def smoke(lab: Lab, url: str | None = None, ca_file: Path | None = None, user: str = "ana",
          echo: Echo = print, timeout: float = 20.0) -> None:
    """Requests through the gateway's TLS frontend, checked: no token → 401; an ml-trusted
    user's token → 200 on embeddings (the same request again: from the ADC's cache) and on
    chat (the demo backends require the injected backend credential there); a token without
    the group → 403 on chat; then the embed pool's
    spillover to the Hugging Face endpoint and back (``spillover.check_spillover``), and the HF
    token in none of the answers. LabError on a failure."""
    url = (url or lab.layout.gateway_url).rstrip("/")
    ca_path = ca_file or lab.ca_file
    if not Path(ca_path).is_file():
        raise LabError(f"no CA to verify the gateway with: {ca_path} does not exist (is the lab up? "
                       "adcml lab up, or give --ca)")
    ca = ssl.create_default_context(cafile=str(ca_path))
    trusted = token(lab, user, [TRUSTED_GROUP])
    other = token(lab, f"{user}-guest", [])
    bearer = {"Authorization": f"Bearer {trusted}"}
    embed_body = {"input": "hello from the lab"}
    replies: list[httpx.Response] = []  # every answer the caller got: none may hold the HF token
    with httpx.Client(base_url=url, verify=ca, timeout=5) as http:
        def call(path: str, headers: Mapping[str, str] | None, body: dict) -> httpx.Response:
            # Right after a converge the ADC's monitors may not have probed the members yet (503).
            deadline = time.monotonic() + timeout
            while True:
                try:
                    reply = http.post(path, json=body, headers=headers)
                    replies.append(reply)
                    if reply.status_code != 503 or time.monotonic() > deadline:
                        return reply
                except httpx.ConnectError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.25)

        def expect(label: str, reply: httpx.Response, status: int) -> None:
            if reply.status_code != status:
                raise LabError(f"smoke check failed: {label}: HTTP {reply.status_code}, expected "
                               f"{status}: {reply.text[:300]}")
            echo(f"ok  {label}: {status}")

        try:
            reply = call("/v1/embeddings", bearer, embed_body)
            expect(f"POST {url}/v1/embeddings as {user} ({TRUSTED_GROUP})", reply, 200)
            data = reply.json().get("data")
            if not data or not data[0].get("embedding"):
                raise LabError(f"smoke check failed: no embedding in {reply.text[:300]}")
            echo(f"    an embedding of {len(data[0]['embedding'])} numbers from "
                 f"{reply.json().get('model', '?')}")
            again = call("/v1/embeddings", bearer, embed_body)
            expect("the same again", again, 200)
            if "Age" not in again.headers or again.content != reply.content:
                raise LabError("smoke check failed: the same embedding request again was not answered "
                               "from the ADC's cache (the embed pool caches POST /v1/embeddings by body)")
            echo(f"    from the ADC's cache (Age: {again.headers['Age']}), keyed by the request body")
            expect("the same without a token", call("/v1/embeddings", None, embed_body), 401)
            chat = {"messages": [{"role": "user", "content": "hi"}]}
            expect(f"POST /v1/chat/completions as {user} ({TRUSTED_GROUP}; backend credential "
                   "injected)", call("/v1/chat/completions", bearer, chat), 200)
            expect(f"POST /v1/chat/completions as {user}-guest (no {TRUSTED_GROUP})",
                   call("/v1/chat/completions", {"Authorization": f"Bearer {other}"}, chat), 403)
            check_spillover(lab, http, bearer, echo, replies)
            assert_token_unseen(replies, echo)
        except httpx.HTTPError as exc:
            raise LabError(f"smoke check failed: {url}: {type(exc).__name__}: {exc} (did the "
                           "playbook converge the gateway? adcml lab status)") from None


def howto(lab: Lab, repo_relative_dir: str | None = None) -> str:
    """What the lab is and how to try it, for the end of ``make lab``."""
    d = repo_relative_dir or str(lab.dir)
    layout = lab.layout
    models = (", ".join(f"{name} {url}" for name, url in lab.model_servers()) + " (adcml serve)"
              if layout.model_hosts else "none (adcml lab up --no-model-hosts)")
    return f"""
The lab is up (it keeps running in the background):
  gateway     {layout.gateway_url}  (TLS with the lab CA {d}/pki/ca.pem; {layout.gateway_name})
  lab ADC     NITRO http://{layout.nitro} and https://{layout.nitro_tls} (nsroot/nsroot)
  lab IdP     {layout.issuer}
  models      {models}
  chat        {', '.join(layout.backends)} (demo chat backends)
  lab HF      {layout.hf_url}/v2 (Inference Endpoints stand-in: namespace {LAB_HF_NAMESPACE}, {d}/hf)
              the embed pool spills over to its endpoint when the local pool is down or full

Try it:
  TOKEN=$(.venv/bin/adcml lab token --dir {d} --user ana --group {TRUSTED_GROUP})
  curl --cacert {d}/pki/ca.pem -H "Authorization: Bearer $TOKEN" \\
       {layout.gateway_url}/v1/embeddings -d '{{"input": "hello"}}'
  curl -s {layout.hf_url}/lab/requests   # what reached the Hugging Face endpoint (spillover)
  .venv/bin/adcml lab status --dir {d}     # what runs, health, the gateway's listeners
  .venv/bin/adcml lab down --dir {d}       # stop it all
""".rstrip()


__all__ = ["AUDIENCE", "TRUSTED_GROUP", "howto", "smoke", "token"]
