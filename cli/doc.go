// Package cli is rally's command line: the site daemon (serve), the
// federation PKI (pki), and the operator commands that drive a running site
// through its admin gRPC API (link, unlink, failback, status, phones, hotdesk,
// check, plugin). cli/rally holds the thin main.
//
// # Reaching a daemon
//
// Commands that talk to a daemon find its admin API, in this order, from
// --admin ADDR, from the "admin" key of the site config given with
// --config FILE, or from the RALLY_ADMIN environment variable. ADDR is
// unix:///abs/path.sock (a local socket: no TLS, the file's permissions
// guard it) or host:port (remote: operator mutual TLS is required, with
// --cert and --key from "rally pki issue --operator NAME" and --ca the
// federation root CA; with --config the CA defaults to the site's tls.ca).
// A site's own identity certificate cannot administer a site. --timeout
// bounds each call (not --watch).
//
// Exit status is 0 on success and 1 on any error, printed to stderr as
// "rally: <error>". "rally check" exits 1 when any check failed, after
// printing every result.
//
// # JSON output
//
// status, phones, check and plugin list take --json. The output is a contract for
// scripts: keys are snake_case, times are RFC 3339 in UTC (fractional
// seconds when present), and every object carries "schema_version": 1.
// Every key listed is always present: strings may be "", lists are [] and
// maps {} when empty, and a time (or heartbeat_age_ms) is null when
// unknown. New keys may be added within a schema version; a key is never
// removed, renamed or retyped without bumping it. A command prints a single
// indented object, except "status --watch --json", which prints JSON Lines:
// one compact object per line.
//
// The shapes below are annotated with // comments, which are not part of
// the output.
//
// rally status --json:
//
//	{
//	  "schema_version": 1,
//	  "site": {
//	    "site": "london",            // the site that answered
//	    "sip_domain": "voip.example",
//	    "revision": 42,               // its directory revision
//	    "licenses": 100,              // phones it may register as home
//	    "licensed": 3,                // home registrations (use a license)
//	    "guests": 2,                  // guest registrations (free)
//	    "backup_site": "paris",       // who backs it up ("" for none)
//	    "backup_mode": "memory",      // "memory" | "durable" backup records
//	    "federation_addr": "127.0.0.1:7400",
//	    "started": "2026-03-01T09:00:00Z",
//	    "plugins": [ ... ]            // the site's plugins, as in rally plugin list --json
//	  },
//	  "peers": [
//	    {
//	      "site": "paris",
//	      "addr": "127.0.0.2:7400",
//	      "state": "normal",          // connecting | normal | suspect | failover |
//	                                  // failback_pending | incompatible
//	      "state_since": "2026-03-01T09:00:01Z",
//	      "relation": "both",         // backs_up_peer | backed_up_by_peer | both | index
//	      "resilience": "inactive",   // for a backed-up peer: inactive | active | lost; else ""
//	      "failback_mode": "automatic",
//	      "heartbeat_age_ms": 12,     // since any frame from the peer; null if never heard
//	      "last_heard": "2026-03-01T10:00:00.488Z",
//	      "held_revision": 40,        // the peer's revision held here
//	      "peer_revision": 40,        // the peer's own revision, from its heartbeats
//	      "acked_revision": 42,       // this site's revision the peer acknowledged
//	      "held_records": 310,
//	      "guests": 0,                // the peer's phones registered here as guests
//	      "message": "",              // why the state is what it is
//	      "warnings": [],
//	      "plugins": {"sip": "serving", "h323": "serving"}
//	    }
//	  ]
//	}
//
// rally phones --json:
//
//	{
//	  "schema_version": 1,
//	  "registrations": [
//	    {
//	      "phone": "201",             // the phone's id (digest username / H.323 alias)
//	      "user": "201",              // extension of its user
//	      "home": "london",
//	      "here_as": "home",          // home | guest
//	      "protocol": "sip",          // sip | h323
//	      "kind": "desk",             // desk | softphone
//	      "contact": "sip:201@10.0.0.5:5060",
//	      "expires": "2026-03-01T10:01:00Z",
//	      "aor": "sip:201@voip.example", // address of record registered
//	      "transport": "udp",         // udp | tcp | tls | ras
//	      "user_agent": "Yealink SIP-T46U 108.86.0.20",
//	      "busy": false,              // in a call (graceful failback waits)
//	      "served_user": "205",       // the user the phone serves now: the hot-desked
//	                                  // user if any, else its base user ("user")
//	      "hotdesk_user": "205",      // the user hot-desked on it ("" for none; home phones only)
//	      "hotdesk_suspended_user": "" // a guest: the user hot-desked on it at its
//	                                  // home, logged out while it is a guest here
//	    }
//	  ]
//	}
//
// rally plugin list --json:
//
//	{
//	  "schema_version": 1,
//	  "plugins": [
//	    {
//	      "name": "sip",              // its key under plugins: in the site config
//	      "protocol": "sip",          // sip | h323 | "" (serves no phones)
//	      "origin": "builtin",        // builtin (the rally binary) | external (installed)
//	      "version": "0.1.0",         // the plugin's own version
//	      "health": "serving",        // starting | serving | not_serving | restarting | failed
//	      "restarts": 0,              // restarts since the daemon started
//	      "last_error": "",           // why it last stopped, failed or does not serve
//	      "pid": 4242,                // 0 while not running
//	      "api_version": 1,           // the plugin API version negotiated
//	      "endpoints": ["sip:udp://127.0.0.1:5060"],
//	      "path": "/usr/local/bin/rally",  // the executable
//	      "sha256": ""                // the pinned SHA-256 of an external plugin
//	    }
//	  ]
//	}
//
// A failed external plugin whose executable no longer matches its pin has a
// last_error saying so; it is not started again until reinstalled.
//
// rally check --json ("ok" is true when every result is ok; the command
// then exits 0):
//
//	{
//	  "schema_version": 1,
//	  "ok": false,
//	  "results": [
//	    {"peer": "paris", "check": "sip_domain", "ok": true, "message": ""},
//	    {"peer": "paris", "check": "ipv6", "ok": false,
//	     "message": "london has ipv6: true, paris has ipv6: false"}
//	  ]
//	}
//
// "check" names what was checked: link, sip_domain, ipv6, backup,
// extensions, reachable:<endpoint>; "peer" is "" for a site-local check.
//
// rally status --watch --json prints the status object above on its first
// line, then one event per line (an event has "kind"; the status has
// "peers"):
//
//	{"schema_version":1,"time":"2026-03-01T10:00:02.5Z","kind":"peer_state","peer":"paris","from":"normal","to":"suspect","message":"no frame for 1s"}
//
// Event kinds: peer_state, resilience, link, refusal, failback, record,
// hotdesk; "from" and "to" are the old and new value where the kind has one
// (hotdesk: "from" and "to" are login and logout; "peer" is the phone's
// home when a backup logs a user out of a guest phone).
//
// Tables (the output without --json) are for people and may change.
package cli
