// `ffr --help`.
export const USAGE = `Usage: ffr COMMAND [ARGS]

Flags
  put FILE|-              create or replace a flag from a JSON document (- reads stdin)
  get NAME [--raw]        print a flag's JSON (--raw: exactly as stored)
  list                    NAME, ENABLED, VALUE, PRIORITY, LAST CHANGE of every flag
  delete NAME             remove a flag
  enable NAME             set "enabled": true
  disable NAME            set "enabled": false
  shadow NAME             set "mode": "shadow": evaluated and counted, never applied
  enforce NAME            set "mode": "enforce" (applied again)
  export                  every flag as one JSON document (for backup or import)
  import FILE|- [--replace]
                          write every flag of an export document (or a JSON list of flags)
                          in one atomic step; all or nothing. --replace also deletes the
                          flags the file does not contain.

Learned proposals
  proposals               ID, CREATED, NAME, SUPPORT, SCORE, SUMMARY of every proposal
  approve ID [NAME] [--enable] [--force] [--respond STATUS [--per-second N]]
          [--route CLUSTER] [--shadow]
                          turn a proposal into a flag (named NAME, default the proposal's
                          name), disabled unless --enable; --force replaces an existing flag;
                          --respond answers matching requests with STATUS (at most N per
                          second per replica, default 100); --route sends them to CLUSTER;
                          --shadow only counts them
  reject ID               drop a proposal

Operations
  status                  the version, and each sidecar's view: version served, sync age,
                          staleness, data-loss alarm, rejected flags with their reasons
  history [NAME] [-n N]   the audit trail, newest first (default: the last 20 changes)
  version                 print <prefix>version
  learner [--json] [--url http://HOST:PORT]
                          the learner's state from a sidecar's admin port (GET /learner,
                          default PROFLAG_ADMIN_ADDR): samples, warm-up, clusters and why
                          each is not proposed yet

Experiments
  results NAME [--since DURATION] [--effect RELATIVE] [--json]
                          per variant: requests, errors, error rate, latency p50/p95/p99;
                          against control: p-values (two-proportion z-test, Mann-Whitney U),
                          the sample-ratio check, the requests still needed at 80 % power
                          (default: the weights in force, since they came into force;
                          --since DURATION: every generation in that window, e.g. 90s,
                          30m, 1h, 7d); the guardrail changes

Every change is one atomic step: the document is checked against the flag schema, then one
Lua script writes it, bumps <prefix>version, publishes on <prefix>changes and appends to the
audit stream <prefix>audit.

Environment (the sidecar's own variables: one configuration serves both)
  REDIS_URL          redis://[user:password@]host:port[/db] or rediss://... (TLS);
                     default redis://127.0.0.1:6379. With a Cluster or Sentinel it gives
                     only the user, password (and db) and the scheme.
  PROFLAG_PREFIX     key prefix, default "proflag:" (Redis Cluster: "{proflag}:")
  PROFLAG_REDIS_CLUSTER_NODES   host:port,... of any Cluster nodes: ffr finds the master
                     that holds the prefix's slot and follows MOVED/ASK
  PROFLAG_REDIS_SENTINELS, PROFLAG_REDIS_SENTINEL_NAME
                     host:port,... of Sentinels and the master's name: ffr asks them for
                     the master on every call (PROFLAG_REDIS_SENTINEL_PASSWORD if they
                     require a password)
  PROFLAG_REDIS_TLS_CA_FILE, _CERT_FILE, _KEY_FILE, _SERVERNAME
                     TLS for rediss:// (PROFLAG_REDIS_CLI_ARGS' --tls, --cacert, --cert,
                     --key and --sni are still read; anything else there is refused)
  PROFLAG_ACTOR      who is recorded in the audit trail, default $USER

A REDIS_URL that names a replica is refused for changes (and read with a warning); one that
names a Cluster node or a Sentinel is refused with the variables to set instead.

Runs on node 20+ from this checkout (dist/ when built and current, else through tsx).
Exit status: 0 done, 1 refused or failed (results: no counts), 2 usage error.
`;
