package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const clusterTOML = `
node_id = 1
data_dir = "/var/lib/strom"   # optional
[node.addresses]
kafka = "0.0.0.0:9092"
wal = "0.0.0.0:9291"
raft = "0.0.0.0:5001"
[node.advertise]
kafka = "localhost:9092"
wal = "localhost:9291"
raft = "localhost:5001"
[[peers]]
id = 1
kafka = "localhost:9092"
wal = "localhost:9291"
raft = "localhost:5001"
`

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "strom.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestLoadEmptyPathIsDefault(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != Default().Listen || c.Log.SegmentBytes != Default().Log.SegmentBytes {
		t.Fatalf("Load(\"\") = %+v, want defaults", c)
	}
}

func TestLoadFileOverDefaults(t *testing.T) {
	p := writeFile(t, `
listen = "127.0.0.1:19092"
log_level = "debug"
connections_max_idle = "30s"
[log]
segment_bytes = 1048576
retention_check_interval = "1m"
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:19092" || c.LogLevel != "debug" || c.ConnMaxIdle != 30*time.Second ||
		c.Log.SegmentBytes != 1<<20 || c.Log.RetentionCheckInterval != time.Minute {
		t.Fatalf("file values not applied: %+v", c)
	}
	if c.DataDir != Default().DataDir || c.Log.RetentionMs != Default().Log.RetentionMs {
		t.Fatalf("defaults lost: %+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"unknown top-level key", `listn = "x:1"`, "listn"},
		{"unknown nested key", "[log]\nsegment_byte = 1", "log.segment_byte"},
		{"unknown peer key", "[[peers]]\nid = 1\nkafak = \"a:1\"", "peers.kafak"},
		{"wrong type", `node_id = "one"`, "node_id"},
		{"listen disagrees with node.addresses.kafka", "listen = \"a:1\"\n[node.addresses]\nkafka = \"b:1\"", "node.addresses.kafka"},
		{"advertise disagrees with node.advertise.kafka", "advertise = \"a:1\"\n[node.advertise]\nkafka = \"b:1\"", "node.advertise.kafka"},
		{"syntax", `listen = `, "load config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func TestLoadClusterShape(t *testing.T) {
	c, err := Load(writeFile(t, clusterTOML))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if c.Listen != "0.0.0.0:9092" || c.Advertise != "localhost:9092" {
		t.Fatalf("listen/advertise = %q/%q, want node.addresses/advertise.kafka", c.Listen, c.Advertise)
	}
	want := Node{
		Addresses: Endpoints{Kafka: "0.0.0.0:9092", Replication: "0.0.0.0:9291", Raft: "0.0.0.0:5001"},
		Advertise: Endpoints{Kafka: "localhost:9092", Replication: "localhost:9291", Raft: "localhost:5001"},
	}
	if c.Node != want {
		t.Fatalf("Node = %+v, want %+v", c.Node, want)
	}
	if len(c.Peers) != 1 || c.Peers[0] != (Peer{ID: 1, Kafka: "localhost:9092", Replication: "localhost:9291", Raft: "localhost:5001"}) {
		t.Fatalf("Peers = %+v", c.Peers)
	}
	if c.DataDir != "/var/lib/strom" || !c.Clustered() || c.AdvertisedReplication() != "localhost:9291" || c.AdvertisedRaft() != "localhost:5001" {
		t.Fatalf("unexpected %+v", c)
	}
}

func TestValidateClusterShape(t *testing.T) {
	threePeers := `
[[peers]]
id = 1
kafka = "localhost:9092"
wal = "localhost:9291"
raft = "localhost:5001"
[[peers]]
id = 2
kafka = "localhost:9093"
wal = "localhost:9292"
raft = "localhost:5002"
`
	for _, tc := range []struct {
		name string
		edit func(s string) string
		want string // "" = valid
	}{
		{"as given", func(s string) string { return s }, ""},
		{"two peers", func(s string) string { return s + strings.Replace(threePeers, "id = 1\nkafka", "id = 3\nkafka", 1) }, ""},
		{"duplicate peer id", func(s string) string { return s + threePeers }, "peers[1].id: duplicate peer id 1"},
		{"node_id missing from peers", func(s string) string { return strings.Replace(s, "node_id = 1", "node_id = 7", 1) }, "node_id: 7 is not in peers"},
		{"advertise kafka wildcard", func(s string) string {
			return strings.Replace(s, "[node.advertise]\nkafka = \"localhost:9092\"", "[node.advertise]\nkafka = \"0.0.0.0:9092\"", 1)
		}, "node.advertise.kafka"},
		{"advertise kafka empty host", func(s string) string {
			return strings.Replace(s, "[node.advertise]\nkafka = \"localhost:9092\"", "[node.advertise]\nkafka = \":9092\"", 1)
		}, "node.advertise.kafka"},
		{"advertise kafka missing, bind wildcard", func(s string) string {
			return strings.Replace(s, "[node.advertise]\nkafka = \"localhost:9092\"\n", "[node.advertise]\n", 1)
		}, "node.advertise.kafka"},
		{"advertise wal wildcard", func(s string) string {
			return strings.Replace(s, "wal = \"localhost:9291\"", "wal = \"0.0.0.0:9291\"", 1)
		}, "node.advertise.wal"},
		{"advertise raft ipv6 wildcard", func(s string) string {
			return strings.Replace(s, "raft = \"localhost:5001\"", "raft = \"[::]:5001\"", 1)
		}, "node.advertise.raft"},
		{"advertise wal missing, bind wildcard", func(s string) string { return strings.Replace(s, "wal = \"localhost:9291\"\n", "", 1) }, "node.advertise.wal (defaulted from node.addresses.wal)"},
		{"own peer kafka disagrees", func(s string) string {
			return strings.Replace(s, "id = 1\nkafka = \"localhost:9092\"", "id = 1\nkafka = \"otherhost:9092\"", 1)
		}, "peers[0].kafka"},
		{"own peer raft disagrees", func(s string) string {
			i := strings.LastIndex(s, "localhost:5001")
			return s[:i] + "localhost:5009" + s[i+len("localhost:5001"):]
		}, "peers[0].raft"},
		{"peer wildcard", func(s string) string {
			return s + "[[peers]]\nid = 4\nkafka = \"h:1\"\nwal = \"h:3\"\nraft = \"0.0.0.0:2\"\n"
		}, "peers[1].raft"},
		{"peer missing wal", func(s string) string { return s + "[[peers]]\nid = 5\nkafka = \"h:1\"\nraft = \"h:2\"\n" }, "peers[1].wal: must be set"},
		{"negative peer id", func(s string) string {
			return s + "[[peers]]\nid = -1\nkafka = \"h:1\"\nwal = \"h:3\"\nraft = \"h:2\"\n"
		}, "peers[1].id"},
		{"bad bind address", func(s string) string { return strings.Replace(s, "wal = \"0.0.0.0:9291\"", "wal = \"nowhere\"", 1) }, "node.addresses.wal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(writeFile(t, tc.edit(clusterTOML)))
			if err == nil {
				err = c.Validate()
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"listen not host:port", func(c *Config) { c.Listen = "9092" }, "listen"},
		{"advertise wildcard from listen", func(c *Config) { c.Listen = "0.0.0.0:9092" }, "advertise"},
		{"advertise port 0", func(c *Config) { c.Advertise = "h:0" }, "advertise: port 0"},
		{"negative node id", func(c *Config) { c.NodeID = -1 }, "node_id"},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data_dir"},
		{"zero partitions", func(c *Config) { c.DefaultPartitions = 0 }, "default_partitions"},
		{"zero replication", func(c *Config) { c.DefaultReplicationFactor = 0 }, "default_replication_factor"},
		{"tiny request max", func(c *Config) { c.SocketRequestMaxBytes = 10 }, "socket_request_max_bytes"},
		{"zero in-flight", func(c *Config) { c.MaxInFlightPerConn = 0 }, "max_in_flight_per_conn"},
		{"zero idle", func(c *Config) { c.ConnMaxIdle = 0 }, "connections_max_idle"},
		{"zero retention check", func(c *Config) { c.Log.RetentionCheckInterval = 0 }, "log.retention_check_interval"},
		{"bad log level", func(c *Config) { c.LogLevel = "loud" }, "log_level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestApplyEnv(t *testing.T) {
	c := Default()
	err := c.ApplyEnv(mapLookup(map[string]string{
		"STROM_LISTEN":                   "127.0.0.1:1",
		"STROM_ADVERTISE":                "example:1",
		"STROM_DATA_DIR":                 "/d",
		"STROM_NODE_ID":                  "4",
		"STROM_LOG_LEVEL":                "warn",
		"STROM_AUTO_CREATE_TOPICS":       "false",
		"STROM_DEFAULT_PARTITIONS":       "6",
		"STROM_SOCKET_REQUEST_MAX_BYTES": "2048",
		"STROM_CONNECTIONS_MAX_IDLE":     "90s",
		"STROM_LOG_SEGMENT_BYTES":        "4096",
		"STROM_UNRELATED":                "ignored",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1" || c.Advertise != "example:1" || c.DataDir != "/d" || c.NodeID != 4 ||
		c.LogLevel != "warn" || c.AutoCreateTopics || c.DefaultPartitions != 6 || c.SocketRequestMaxBytes != 2048 ||
		c.ConnMaxIdle != 90*time.Second || c.Log.SegmentBytes != 4096 {
		t.Fatalf("env not applied: %+v", c)
	}
	for name, val := range map[string]string{
		"STROM_NODE_ID":              "x",
		"STROM_AUTO_CREATE_TOPICS":   "maybe",
		"STROM_DEFAULT_PARTITIONS":   "99999999999",
		"STROM_CONNECTIONS_MAX_IDLE": "10",
	} {
		c := Default()
		err := c.ApplyEnv(mapLookup(map[string]string{name: val}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: error = %v, want it to name the variable", name, val, err)
		}
	}
}

func TestEnvVarsCoverTopLevelKeysUniquely(t *testing.T) {
	names := EnvVars()
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Fatalf("duplicate env var %s", n)
		}
		seen[n] = true
	}
	for _, want := range []string{"STROM_LISTEN", "STROM_ADVERTISE", "STROM_DATA_DIR", "STROM_NODE_ID", "STROM_LOG_LEVEL",
		"STROM_AUTO_CREATE_TOPICS", "STROM_DEFAULT_PARTITIONS", "STROM_DEFAULT_REPLICATION_FACTOR",
		"STROM_SOCKET_REQUEST_MAX_BYTES", "STROM_MAX_IN_FLIGHT_PER_CONN", "STROM_CONNECTIONS_MAX_IDLE",
		"STROM_LOG_RETENTION_MS", "STROM_AUTHORIZATION_ENABLED", "STROM_AUTHORIZATION_ALLOW_EVERYONE_IF_NO_ACL_FOUND"} {
		if !seen[want] {
			t.Errorf("EnvVars() lacks %s", want)
		}
	}
	for _, n := range names {
		if strings.HasPrefix(n, "STROM_NODE_ADDRESSES") || strings.HasPrefix(n, "STROM_PEERS") {
			t.Errorf("cluster shape key %s must come from the file only", n)
		}
	}
}

func TestPrecedenceFileThenEnv(t *testing.T) {
	c, err := Load(writeFile(t, "listen = \"127.0.0.1:2\"\ndata_dir = \"/file\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyEnv(mapLookup(map[string]string{"STROM_LISTEN": "127.0.0.1:3"})); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:3" || c.DataDir != "/file" || c.LogLevel != "info" {
		t.Fatalf("precedence wrong: %+v", c)
	}
}

// TestDefaultsFileMatchesDefault keeps testdata/defaults.toml, the
// documented list of every setting, equal to Default().
func TestDefaultsFileMatchesDefault(t *testing.T) {
	c, err := Load("testdata/defaults.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("testdata/defaults.toml differs from Default():\n file    %+v\n default %+v", c, Default())
	}
	data, err := os.ReadFile("testdata/defaults.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range envFields() {
		// A key of a table ([log], [metadata]) appears under its table.
		key := f.key[strings.LastIndexByte(f.key, '.')+1:]
		if !strings.Contains(string(data), key) {
			t.Errorf("testdata/defaults.toml does not document %s", f.key)
		}
	}
}

// TestListenersShape reads the security shape of docs/security.md: named
// listeners, [tls] and bootstrap users; the first listener replaces listen.
func TestListenersShape(t *testing.T) {
	c := Default()
	err := c.decodeTOML(`
[[listeners]]
name = "CLIENT"
address = "0.0.0.0:9093"
advertise = "broker1.example.com:9093"
protocol = "SASL_SSL"
sasl_mechanisms = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

[[listeners]]
name = "INTERNAL"
address = "127.0.0.1:9092"
protocol = "PLAINTEXT"

[tls]
cert_file = "broker.pem"
key_file = "broker-key.pem"
client_ca_file = "ca.pem"
client_auth = "required"

[[sasl.users]]
name = "admin"
password_file = "admin.password"
mechanisms = ["SCRAM-SHA-512", "PLAIN"]
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9093" || c.AdvertisedAddr() != "broker1.example.com:9093" || len(c.KafkaListeners()) != 2 {
		t.Fatalf("listeners not applied: listen %q advertise %q %+v", c.Listen, c.AdvertisedAddr(), c.KafkaListeners())
	}
	if c.SASL.Users[0].Name != "admin" || c.TLS.ClientAuth != "required" {
		t.Fatalf("sasl/tls not read: %+v %+v", c.SASL, c.TLS)
	}
	bad := c
	bad.Listeners = append([]Listener(nil), c.Listeners...)
	bad.Listeners[1].SASLMechanisms = []string{"OAUTHBEARER"}
	bad.Listeners[1].Protocol = "SASL_PLAINTEXT"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "OAUTHBEARER needs sasl.oauthbearer") {
		t.Fatalf("OAUTHBEARER accepted without keys: %v", err)
	}
	bad.SASL.OAuthBearer.JWKSFile = "jwks.json"
	if err := bad.Validate(); err != nil {
		t.Fatalf("OAUTHBEARER with a JWKS file: %v", err)
	}
	bad.Listeners[1].SASLMechanisms = []string{"GSSAPI"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "GSSAPI") {
		t.Fatalf("GSSAPI accepted: %v", err)
	}
	if d := Default().KafkaListeners(); len(d) != 1 || d[0].Protocol != "PLAINTEXT" || d[0].Address != "127.0.0.1:9092" {
		t.Fatalf("single-listener form: %+v", d)
	}
}

// TestListenersBesideNodeAddresses: a cluster file keeps [node.addresses]
// kafka when it names the first listener; another address is refused.
func TestListenersBesideNodeAddresses(t *testing.T) {
	doc := func(kafka string) string {
		return `
[[listeners]]
name = "INTERNAL"
address = "127.0.0.1:9092"
protocol = "PLAINTEXT"
[[listeners]]
name = "CLIENT"
address = "127.0.0.1:9093"
protocol = "SASL_PLAINTEXT"
[node.addresses]
kafka = "` + kafka + `"
[node.advertise]
kafka = "` + kafka + `"
`
	}
	c := Default()
	if err := c.decodeTOML(doc("127.0.0.1:9092")); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = Default()
	if err := c.decodeTOML(doc("127.0.0.1:9999")); err == nil || !strings.Contains(err.Error(), "node.addresses.kafka") {
		t.Fatalf("a second Kafka address accepted: %v", err)
	}
}

// TestOAuthBearerConfig reads [sasl.oauthbearer] with Kafka's defaults and
// refuses what cannot validate a token.
func TestOAuthBearerConfig(t *testing.T) {
	c := Default()
	if o := c.SASL.OAuthBearer; o.SubClaim != "sub" || o.ScopeClaim != "scope" || o.ClockSkew != 30*time.Second || o.JWKSRefresh != time.Hour || o.Enabled() {
		t.Fatalf("defaults: %+v", o)
	}
	err := c.decodeTOML(`
[[listeners]]
name = "CLIENT"
address = "127.0.0.1:9093"
protocol = "SASL_SSL"
sasl_mechanisms = ["OAUTHBEARER", "SCRAM-SHA-512"]

[tls]
cert_file = "broker.pem"
key_file = "broker-key.pem"
principal_mapping_rules = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT"

[sasl.oauthbearer]
jwks_url = "https://idp.example.com/jwks"
issuer = "https://idp.example.com"
audience = "kafka,strom"
sub_claim = "client_id"
clock_skew = "5s"
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if o := c.SASL.OAuthBearer; o.JWKSURL != "https://idp.example.com/jwks" || o.Audience != "kafka,strom" || o.SubClaim != "client_id" || o.ClockSkew != 5*time.Second {
		t.Fatalf("[sasl.oauthbearer] not read: %+v", o)
	}
	if c.TLS.PrincipalMappingRules == "" {
		t.Fatal("tls.principal_mapping_rules not read")
	}
	env := map[string]string{"STROM_SASL_OAUTHBEARER_ISSUER": "https://other", "STROM_SASL_OAUTHBEARER_CLOCK_SKEW": "1m", "STROM_TLS_PRINCIPAL_MAPPING_RULES": "DEFAULT"}
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if c.SASL.OAuthBearer.Issuer != "https://other" || c.SASL.OAuthBearer.ClockSkew != time.Minute || c.TLS.PrincipalMappingRules != "DEFAULT" {
		t.Fatalf("env not applied: %+v %+v", c.SASL.OAuthBearer, c.TLS)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.SASL.OAuthBearer.JWKSFile = "jwks.json" },
		func(c *Config) { c.SASL.OAuthBearer.JWKSURL = "ftp://idp/jwks" },
		func(c *Config) { c.SASL.OAuthBearer.ClockSkew = -time.Second },
		func(c *Config) { c.SASL.OAuthBearer.SubClaim = " " },
		func(c *Config) { c.SASL.OAuthBearer.JWKSRefresh = 0 },
		func(c *Config) {
			c.SASL.OAuthBearer.JWKSURL, c.SASL.OAuthBearer.JWKSCAFile = "http://idp/jwks", "ca.pem"
		},
	} {
		b := c
		bad(&b)
		if err := b.Validate(); err == nil || !strings.Contains(err.Error(), "sasl.oauthbearer") {
			t.Errorf("%+v accepted: %v", b.SASL.OAuthBearer, err)
		}
	}
}

// TestInternodeTLS: node-to-node TLS is on in a cluster once [tls] names
// the node CA (ca_file), off without one or on a single node, and
// internode = "plaintext" turns it off; node_cert_file defaults to
// cert_file; a half-set pair or a switch without a CA is refused.
func TestInternodeTLS(t *testing.T) {
	cluster := `
node_id = 1
[node.addresses]
kafka = "127.0.0.1:9092"
wal = "127.0.0.1:9291"
raft = "127.0.0.1:5001"
[[peers]]
id = 1
kafka = "127.0.0.1:9092"
wal = "127.0.0.1:9291"
raft = "127.0.0.1:5001"
`
	load := func(doc string) (Config, error) {
		c := Default()
		if err := c.decodeTOML(doc); err != nil {
			return c, err
		}
		return c, c.Validate()
	}
	for _, tc := range []struct {
		name, doc string
		on        bool
		err       string
		cert      string
	}{
		{name: "no security", doc: cluster},
		{name: "listener TLS only", doc: cluster + "[tls]\ncert_file = \"b.pem\"\nkey_file = \"b-key.pem\"\n", cert: "b.pem"},
		{name: "node CA", doc: cluster + "[tls]\ncert_file = \"b.pem\"\nkey_file = \"b-key.pem\"\nca_file = \"nodes.pem\"\n", on: true, cert: "b.pem"},
		{name: "node certificate", doc: cluster + "[tls]\nnode_cert_file = \"n.pem\"\nnode_key_file = \"n-key.pem\"\nca_file = \"nodes.pem\"\n", on: true, cert: "n.pem"},
		{name: "switched off", doc: cluster + "[tls]\ncert_file = \"b.pem\"\nkey_file = \"b-key.pem\"\nca_file = \"nodes.pem\"\ninternode = \"plaintext\"\n", cert: "b.pem"},
		{name: "single node", doc: "[tls]\ncert_file = \"b.pem\"\nkey_file = \"b-key.pem\"\nca_file = \"nodes.pem\"\n", cert: "b.pem"},
		{name: "switch without CA", doc: cluster + "[tls]\ncert_file = \"b.pem\"\nkey_file = \"b-key.pem\"\ninternode = \"tls\"\n", err: "tls.ca_file"},
		{name: "no certificate", doc: cluster + "[tls]\nca_file = \"nodes.pem\"\n", err: "tls.node_cert_file"},
		{name: "half a pair", doc: cluster + "[tls]\nnode_cert_file = \"n.pem\"\nca_file = \"nodes.pem\"\n", err: "tls.node_cert_file and tls.node_key_file"},
		{name: "unknown mode", doc: cluster + "[tls]\ninternode = \"ssl\"\n", err: "tls.internode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(tc.doc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.InternodeTLS(); got != tc.on {
				t.Fatalf("InternodeTLS() = %v, want %v", got, tc.on)
			}
			if cert, _ := c.TLS.NodeCert(); cert != tc.cert {
				t.Fatalf("node certificate %q, want %q", cert, tc.cert)
			}
		})
	}
}

// TestInterBrokerListener: inter_broker_listener names a PLAINTEXT or an
// SSL listener (SSL only with a node certificate to present); an unknown
// name or a SASL listener is refused.
func TestInterBrokerListener(t *testing.T) {
	doc := func(name, tls string) string {
		return `inter_broker_listener = "` + name + `"
node_id = 1
[node.addresses]
kafka = "127.0.0.1:9092"
wal = "127.0.0.1:9291"
raft = "127.0.0.1:5001"
[[peers]]
id = 1
kafka = "127.0.0.1:9092"
wal = "127.0.0.1:9291"
raft = "127.0.0.1:5001"
[[listeners]]
name = "CLIENT"
address = "127.0.0.1:9092"
protocol = "SASL_SSL"
[[listeners]]
name = "INTERNAL"
address = "127.0.0.1:9094"
protocol = "SSL"
[[listeners]]
name = "PLAIN"
address = "127.0.0.1:9095"
protocol = "PLAINTEXT"
[tls]
cert_file = "b.pem"
key_file = "b-key.pem"
` + tls
	}
	for _, tc := range []struct{ name, listener, tls, err, protocol string }{
		{name: "default", protocol: ""},
		{name: "plaintext", listener: "PLAIN", protocol: "PLAINTEXT"},
		{name: "ssl", listener: "INTERNAL", tls: "ca_file = \"nodes.pem\"\n", protocol: "SSL"},
		{name: "ssl without node TLS", listener: "INTERNAL", err: "needs internode TLS"},
		{name: "sasl", listener: "CLIENT", err: "no SASL credentials"},
		{name: "unknown", listener: "NOPE", err: "no listener named"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			if err := c.decodeTOML(doc(tc.listener, tc.tls)); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.InterBrokerProtocol(); got != tc.protocol {
				t.Fatalf("InterBrokerProtocol() = %q, want %q", got, tc.protocol)
			}
		})
	}
}
