"""Where stories come from: HTTP fetching of feeds (`fetch`) and the SSRF guard for untrusted URLs (`netguard`)."""
