//! A client for the OCI distribution API: the `/v2/` ping, Bearer token and Basic auth from
//! the registry's challenge, manifests and blobs, uploads. Credentials go only into request
//! headers, never into messages.

use std::io::Read;
use std::sync::{Arc, Mutex};

use base64::Engine;

use super::ImageError;

/// Accept every manifest kind we read: OCI and docker, single-platform and lists.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// How to reach one registry.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host[:port]` as in references (`docker.io` means Docker Hub's API host).
    pub host: String,
    /// `--tls-verify=false`.
    pub insecure: bool,
}

impl Endpoint {
    fn api_host(&self) -> &str {
        if self.host == "docker.io" {
            "registry-1.docker.io"
        } else {
            &self.host
        }
    }

    /// localhost and 127.0.0.0/8 may speak plain http (docker's default insecure registries).
    pub fn is_local(&self) -> bool {
        let h = self
            .host
            .rsplit_once(':')
            .map_or(self.host.as_str(), |(h, _)| h);
        h == "localhost" || h.starts_with("127.") || h == "[::1]"
    }
}

type Response = ureq::http::Response<ureq::Body>;

pub struct Client {
    agent: ureq::Agent,
    base: String,
    creds: Option<Credentials>,
    /// The Authorization header value once we have one (shared by download threads).
    auth: Mutex<Option<String>>,
}

fn err(host: &str, what: impl std::fmt::Display) -> ImageError {
    ImageError::Registry(format!("{host}: {what}"))
}

/// The CA of `/etc/containers/certs.d/<host>/ca.crt`, plus the system's and webpki roots.
fn root_certs(host: &str) -> ureq::tls::RootCerts {
    let mut certs: Vec<ureq::tls::Certificate<'static>> = Vec::new();
    let mut add = |pem: &[u8]| {
        for item in ureq::tls::parse_pem(pem).flatten() {
            if let ureq::tls::PemItem::Certificate(c) = item {
                certs.push(c);
            }
        }
    };
    let own = format!("/etc/containers/certs.d/{host}/ca.crt");
    let mut extra = false;
    if let Ok(pem) = std::fs::read(&own) {
        add(&pem);
        extra = true;
    }
    if !extra {
        return ureq::tls::RootCerts::WebPki;
    }
    if let Ok(pem) = std::fs::read("/etc/ssl/certs/ca-certificates.crt") {
        add(&pem);
    }
    ureq::tls::RootCerts::Specific(Arc::new(certs))
}

fn agent(host: &str, insecure: bool) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(root_certs(host))
        .disable_verification(insecure)
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .timeout_connect(Some(std::time::Duration::from_secs(10)))
        .build()
        .into()
}

/// How a blob got to the registry.
#[derive(Debug, PartialEq)]
pub enum Upload {
    Sent,
    /// Mounted from another repository of the same registry.
    Mounted,
}

impl Client {
    /// Connect: https, falling back to plain http for local registries (or `insecure` ones)
    /// that do not speak TLS.
    pub fn connect(ep: &Endpoint, creds: Option<Credentials>) -> Result<Client, ImageError> {
        let host = ep.api_host().to_string();
        let https = Client {
            agent: agent(&host, ep.insecure),
            base: format!("https://{host}"),
            creds: creds.clone(),
            auth: Mutex::new(None),
        };
        let https_err = match https.ping() {
            Ok(()) => return Ok(https),
            Err(e) if !(ep.is_local() || ep.insecure) => return Err(e),
            Err(e) => e,
        };
        let http = Client {
            agent: agent(&host, true),
            base: format!("http://{host}"),
            creds,
            auth: Mutex::new(None),
        };
        match http.ping() {
            Ok(()) => Ok(http),
            // Both failed: the https error is the one that says why (a certificate, say).
            Err(ImageError::Registry(plain)) => Err(ImageError::Registry(format!(
                "{https_err} (and over plain http: {})",
                plain.split_once(": ").map_or(plain.as_str(), |(_, m)| m)
            ))),
            Err(e) => Err(e),
        }
    }

    fn host(&self) -> &str {
        self.base.split_once("://").map_or(&self.base, |(_, h)| h)
    }

    /// `GET /v2/`: reachable, and (with credentials) authenticated.
    fn ping(&self) -> Result<(), ImageError> {
        let resp = self
            .agent
            .get(format!("{}/v2/", self.base))
            .call()
            .map_err(|e| err(self.host(), format!("cannot reach the registry: {e}")))?;
        match resp.status().as_u16() {
            200 => Ok(()),
            401 => {
                let challenge = header(&resp, "www-authenticate");
                if self.creds.is_some() {
                    self.authenticate(&challenge, "")?;
                }
                Ok(())
            }
            s => Err(err(self.host(), format!("unexpected status {s} from /v2/"))),
        }
    }

    /// Answer a challenge: Basic with the credentials, or a Bearer token for `scope`.
    fn authenticate(&self, challenge: &str, scope: &str) -> Result<(), ImageError> {
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let basic = self.creds.as_ref().map(|c| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", c.username, c.password))
            )
        });
        if scheme.eq_ignore_ascii_case("basic") {
            let Some(b) = basic else {
                return Err(err(
                    self.host(),
                    "authentication required: log in first (skiff login)",
                ));
            };
            *self.auth.lock().unwrap_or_else(|p| p.into_inner()) = Some(b);
            return Ok(());
        }
        let p = parse_challenge(params);
        let realm = p
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| err(self.host(), "the auth challenge names no realm"))?;
        let mut url = realm.clone();
        let mut sep = if realm.contains('?') { '&' } else { '?' };
        for (k, v) in &p {
            if k == "service" || (k == "scope" && scope.is_empty()) {
                url.push_str(&format!("{sep}{k}={}", urlencode(v)));
                sep = '&';
            }
        }
        // Several scopes (a cross-repository mount) go as several scope parameters.
        for one in scope.split_whitespace() {
            url.push_str(&format!("{sep}scope={}", urlencode(one)));
            sep = '&';
        }
        let mut req = self.agent.get(&url);
        if let Some(b) = &basic {
            req = req.header("Authorization", b);
        }
        let mut resp = req
            .call()
            .map_err(|e| err(self.host(), format!("token request failed: {e}")))?;
        match resp.status().as_u16() {
            200 => {}
            401 | 403 => {
                return Err(err(
                    self.host(),
                    "unauthorized: incorrect username or password",
                ));
            }
            s => return Err(err(self.host(), format!("token request: status {s}"))),
        }
        let raw = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| err(self.host(), format!("token response: {e}")))?;
        let body: serde_json::Value = serde_json::from_slice(&raw)
            .map_err(|e| err(self.host(), format!("token response: {e}")))?;
        let token = body["token"]
            .as_str()
            .or(body["access_token"].as_str())
            .ok_or_else(|| err(self.host(), "the token response has no token"))?;
        *self.auth.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("Bearer {token}"));
        Ok(())
    }

    /// Send a request with our authorization; on 401, answer the challenge once and retry.
    /// `make` builds and sends it, given the Authorization header value.
    fn send(
        &self,
        scope: &str,
        make: &dyn Fn(&ureq::Agent, &str) -> Result<Response, ureq::Error>,
    ) -> Result<Response, ImageError> {
        for attempt in 0..2 {
            let auth = self
                .auth
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_default();
            let resp = make(&self.agent, &auth)
                .map_err(|e| err(self.host(), format!("request failed: {e}")))?;
            if resp.status().as_u16() == 401 && attempt == 0 {
                self.authenticate(&header(&resp, "www-authenticate"), scope)?;
                continue;
            }
            return Ok(resp);
        }
        Err(err(self.host(), "unauthorized"))
    }

    /// A manifest by tag or digest: (bytes, media type).
    pub fn manifest(&self, repo: &str, reference: &str) -> Result<(Vec<u8>, String), ImageError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let scope = format!("repository:{repo}:pull");
        let mut resp = self.send(&scope, &|a, auth| {
            with_auth(a.get(&url), auth)
                .header("Accept", MANIFEST_ACCEPT)
                .call()
        })?;
        match resp.status().as_u16() {
            200 => {}
            404 => {
                return Err(ImageError::Registry(format!(
                    "manifest for {}/{repo}:{reference} not found: manifest unknown",
                    self.host()
                )));
            }
            401 | 403 => {
                return Err(ImageError::Registry(format!(
                    "pull access denied for {repo}: the repository does not exist or needs 'skiff login'"
                )));
            }
            s => {
                return Err(err(
                    self.host(),
                    format!("manifest {reference}: status {s}"),
                ));
            }
        }
        let media = header(&resp, "content-type");
        let body = resp
            .body_mut()
            .with_config()
            .limit(8 << 20)
            .read_to_vec()
            .map_err(|e| err(self.host(), format!("reading the manifest: {e}")))?;
        Ok((body, media))
    }

    /// A blob as a stream.
    pub fn blob(&self, repo: &str, digest: &str) -> Result<impl Read + use<>, ImageError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        let scope = format!("repository:{repo}:pull");
        let resp = self.send(&scope, &|a, auth| with_auth(a.get(&url), auth).call())?;
        match resp.status().as_u16() {
            200 => Ok(resp.into_body().into_reader()),
            s => Err(err(self.host(), format!("blob {digest}: status {s}"))),
        }
    }

    pub fn has_blob(&self, repo: &str, digest: &str) -> Result<bool, ImageError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        let scope = format!("repository:{repo}:pull,push");
        let resp = self.send(&scope, &|a, auth| with_auth(a.head(&url), auth).call())?;
        Ok(resp.status().as_u16() == 200)
    }

    /// Upload a blob in one PUT (POST for a session, then PUT with the digest). With
    /// `mount_from`, first ask the registry to mount it from that repository of its own
    /// (no bytes sent); the registry says 201 if it did, or opens an upload session if not.
    pub fn upload_blob(
        &self,
        repo: &str,
        digest: &str,
        path: &std::path::Path,
        mount_from: Option<&str>,
    ) -> Result<Upload, ImageError> {
        let mut scope = format!("repository:{repo}:pull,push");
        let mut url = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        if let Some(from) = mount_from {
            scope.push_str(&format!(" repository:{from}:pull"));
            url.push_str(&format!(
                "?mount={}&from={}",
                urlencode(digest),
                urlencode(from)
            ));
        }
        let resp = self.send(&scope, &|a, auth| {
            let mut r = a.post(&url);
            if !auth.is_empty() {
                r = r.header("Authorization", auth);
            }
            r.send_empty()
        })?;
        if mount_from.is_some() && resp.status().as_u16() == 201 {
            return Ok(Upload::Mounted);
        }
        if resp.status().as_u16() != 202 {
            return Err(err(
                self.host(),
                format!(
                    "starting an upload to {repo}: status {}",
                    resp.status().as_u16()
                ),
            ));
        }
        let location = header(&resp, "location");
        let mut put = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.base)
        };
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str(&format!("digest={}", urlencode(digest)));
        let file = std::fs::File::open(path).map_err(super::io_err(path))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut req = self
            .agent
            .put(&put)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", len.to_string());
        if let Some(a) = self.auth.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            req = req.header("Authorization", a);
        }
        let resp = req
            .send(ureq::SendBody::from_reader(&mut std::io::BufReader::new(
                file,
            )))
            .map_err(|e| err(self.host(), format!("uploading {digest}: {e}")))?;
        match resp.status().as_u16() {
            201 | 204 => Ok(Upload::Sent),
            s => Err(err(self.host(), format!("uploading {digest}: status {s}"))),
        }
    }

    pub fn put_manifest(
        &self,
        repo: &str,
        tag: &str,
        media: &str,
        body: &[u8],
    ) -> Result<(), ImageError> {
        let scope = format!("repository:{repo}:pull,push");
        let url = format!("{}/v2/{repo}/manifests/{tag}", self.base);
        // A HEAD first gets us authorized for push without sending the body twice.
        let _ = self.send(&scope, &|a, auth| {
            with_auth(a.head(&url), auth)
                .header("Accept", MANIFEST_ACCEPT)
                .call()
        })?;
        let mut req = self.agent.put(&url).header("Content-Type", media);
        if let Some(a) = self.auth.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            req = req.header("Authorization", a);
        }
        let resp = req
            .send(body)
            .map_err(|e| err(self.host(), format!("pushing the manifest: {e}")))?;
        match resp.status().as_u16() {
            201 | 200 => Ok(()),
            401 | 403 => Err(ImageError::Registry(format!(
                "denied: requested access to {repo} is denied (skiff login {})",
                self.host()
            ))),
            s => Err(err(
                self.host(),
                format!("pushing the manifest: status {s}"),
            )),
        }
    }

    /// Check that the credentials work (`login`).
    /// The registry's repositories (`/v2/_catalog`, following its `Link` pages), at most
    /// `max` of them.
    pub fn catalog(&self, max: usize) -> Result<Vec<String>, ImageError> {
        let mut repos = Vec::new();
        let mut next = Some(format!("{}/v2/_catalog?n=1000", self.base));
        while let Some(url) = next.take() {
            let mut resp = self.send("registry:catalog:*", &|a, auth| {
                with_auth(a.get(&url), auth).call()
            })?;
            match resp.status().as_u16() {
                200 => {}
                401 | 403 => {
                    return Err(err(self.host(), "the catalog needs 'skiff login'"));
                }
                404 => return Err(err(self.host(), "this registry does not list its catalog")),
                s => return Err(err(self.host(), format!("catalog: status {s}"))),
            }
            let bytes = resp
                .body_mut()
                .with_config()
                .limit(16 << 20)
                .read_to_vec()
                .map_err(|e| err(self.host(), format!("reading the catalog: {e}")))?;
            let body: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| err(self.host(), format!("reading the catalog: {e}")))?;
            repos.extend(
                body["repositories"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_str().map(String::from)),
            );
            // `Link: </v2/_catalog?last=x&n=1000>; rel="next"`
            let link = header(&resp, "link");
            next = link
                .split_once('<')
                .and_then(|(_, rest)| rest.split_once('>'))
                .filter(|_| link.contains("rel=\"next\""))
                .map(|(path, _)| format!("{}{path}", self.base));
            if repos.len() >= max {
                break;
            }
        }
        Ok(repos)
    }

    pub fn check_login(&self) -> Result<(), ImageError> {
        let url = format!("{}/v2/", self.base);
        let resp = self.send("", &|a, auth| with_auth(a.get(&url), auth).call())?;
        match resp.status().as_u16() {
            200 => Ok(()),
            _ => Err(ImageError::Registry(format!(
                "{}: unauthorized: incorrect username or password",
                self.host()
            ))),
        }
    }
}

fn with_auth(
    req: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    auth: &str,
) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
    if auth.is_empty() {
        req
    } else {
        req.header("Authorization", auth)
    }
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// `realm="https://auth",service="registry",scope="repository:x:pull"` -> pairs.
pub fn parse_challenge(params: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = params.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].to_string(), &after[end..]),
                None => (after.to_string(), ""),
            }
        };
        out.push((key, value));
        rest = tail.trim_start_matches(',').trim();
    }
    out
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let p = parse_challenge(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(
            p[0],
            ("realm".into(), "https://auth.docker.io/token".into())
        );
        assert_eq!(p[1].1, "registry.docker.io");
        assert_eq!(p[2].1, "repository:library/busybox:pull");
        assert_eq!(
            urlencode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }

    #[test]
    fn local_registries() {
        for (h, local) in [
            ("127.0.0.1:5000", true),
            ("localhost:5000", true),
            ("localhost", true),
            ("registry.example.com", false),
            ("10.0.0.1:5000", false),
        ] {
            assert_eq!(
                Endpoint {
                    host: h.into(),
                    insecure: false
                }
                .is_local(),
                local,
                "{h}"
            );
        }
    }
}
