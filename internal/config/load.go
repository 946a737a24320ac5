package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// EnvPrefix starts every environment variable this package reads.
const EnvPrefix = "STROM_"

// EnvConfigFile names the environment variable holding a config file path;
// it is read by the CLI, not by ApplyEnv.
const EnvConfigFile = EnvPrefix + "CONFIG"

// Load returns Default() overlaid with the TOML file at path. An empty path
// returns the defaults. Keys the file sets that Config does not know are an
// error naming each key, so a typo never silently falls back to a default.
// Load does not validate: call Validate after the env and flag layers.
func Load(path string) (Config, error) {
	c := Default()
	if path == "" {
		return c, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("load config: %w", err)
	}
	if err := c.decodeTOML(string(data)); err != nil {
		return Config{}, fmt.Errorf("load config %s: %w", path, err)
	}
	return c, nil
}

// decodeTOML overlays the TOML document on c and maps the cluster shape's
// kafka endpoints onto Listen and Advertise.
func (c *Config) decodeTOML(doc string) error {
	md, err := toml.Decode(doc, c)
	if err != nil {
		return err
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return fmt.Errorf("unknown key(s): %s", strings.Join(keys, ", "))
	}
	if len(c.Listeners) > 0 {
		first := c.Listeners[0]
		// The single-listener keys may stay only when they name the first
		// listener (a cluster file generated with [node.addresses] that
		// adds listeners).
		for _, k := range []struct{ key, v, want string }{
			{"listen", c.Listen, first.Address}, {"node.addresses.kafka", c.Node.Addresses.Kafka, first.Address},
			{"advertise", c.Advertise, first.Advertise}, {"node.advertise.kafka", c.Node.Advertise.Kafka, first.Advertise},
		} {
			if md.IsDefined(strings.Split(k.key, ".")...) && k.v != k.want && !(k.key == "node.advertise.kafka" && first.Advertise == "" && k.v == first.Address) {
				return fmt.Errorf("[[listeners]] replaces listen, advertise and node.addresses.kafka / node.advertise.kafka: %s %q is not listeners[0]'s %q; set one form", k.key, k.v, k.want)
			}
		}
		if first.Advertise == "" && c.Node.Advertise.Kafka != "" {
			c.Listeners[0].Advertise = c.Node.Advertise.Kafka
			first.Advertise = c.Node.Advertise.Kafka
		}
		c.Listen, c.Advertise = first.Address, first.Advertise
		return nil
	}
	if c.Node.Addresses.Kafka != "" {
		if md.IsDefined("listen") && c.Listen != c.Node.Addresses.Kafka {
			return fmt.Errorf("listen %q and node.addresses.kafka %q disagree; set one", c.Listen, c.Node.Addresses.Kafka)
		}
		c.Listen = c.Node.Addresses.Kafka
	}
	if c.Node.Advertise.Kafka != "" {
		if md.IsDefined("advertise") && c.Advertise != c.Node.Advertise.Kafka {
			return fmt.Errorf("advertise %q and node.advertise.kafka %q disagree; set one", c.Advertise, c.Node.Advertise.Kafka)
		}
		c.Advertise = c.Node.Advertise.Kafka
	}
	return nil
}

// envField is one scalar config key reachable from the environment.
type envField struct {
	env   string // STROM_LOG_SEGMENT_BYTES
	key   string // log.segment_bytes
	index []int  // reflect field path from Config
}

// envFields lists every scalar key settable from the environment: each
// top-level key and each key of the [log] table. The cluster shape ([node.*],
// [[peers]]) comes from the file only, so that every node reads the same
// peer list from one place.
func envFields() []envField {
	var out []envField
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" || name == "node" || name == "peers" || f.Type.Kind() == reflect.Slice {
				continue // arrays of tables come from the file only
			}
			idx := append(append([]int(nil), index...), i)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(f.Type, prefix+name+".", idx)
				continue
			}
			key := prefix + name
			env := EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
			out = append(out, envField{env: env, key: key, index: idx})
		}
	}
	walk(reflect.TypeOf(Config{}), "", nil)
	return out
}

// EnvVars returns the names of all STROM_* variables ApplyEnv reads, sorted.
func EnvVars() []string {
	fs := envFields()
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.env
	}
	sort.Strings(names)
	return names
}

// ApplyEnv overrides c with every STROM_* variable that lookup finds (pass
// os.LookupEnv). A value that does not parse is an error naming the variable.
// Durations take Go syntax ("30s", "10m"); booleans take strconv.ParseBool
// forms.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	v := reflect.ValueOf(c).Elem()
	for _, f := range envFields() {
		s, ok := lookup(f.env)
		if !ok {
			continue
		}
		if err := setField(v.FieldByIndex(f.index), s); err != nil {
			return fmt.Errorf("env %s (%s): %w", f.env, f.key, err)
		}
	}
	return nil
}

// errUnsupportedKind is returned for field kinds setField cannot parse.
var errUnsupportedKind = errors.New("unsupported field kind")

// setField parses s into the scalar field v.
func setField(v reflect.Value, s string) error {
	s = strings.TrimSpace(s)
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return err
		}
		v.SetInt(n)
	default:
		return fmt.Errorf("%w %s", errUnsupportedKind, v.Kind())
	}
	return nil
}
