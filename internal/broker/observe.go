package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/admin"
	"github.com/strom-broker/strom/internal/auth"
	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/console"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/metrics"
)

// The node's observability: its metrics registry, the admin listener and
// readiness. The admin listener starts first thing in Start, so /healthz
// answers while the node waits for its quorum and /readyz says why it is
// not ready; the state collectors read nothing until the node serves.

// startAdmin builds the metrics and binds the admin listener (when set).
func (b *Broker) startAdmin() error {
	b.metrics = metrics.NewNode(b.cfg.NodeID, b.metricSources(), b.cfg.Admin.PartitionMetrics)
	if b.cfg.Admin.Address == "" {
		return nil
	}
	var tlsCfg *tls.Config
	if secured(b.cfg) && b.cfg.TLS.CertFile != "" {
		// The browser presents no client certificate: [tls] client_auth
		// applies to the Kafka listeners only.
		c, err := auth.NewTLSConfig(config.TLS{CertFile: b.cfg.TLS.CertFile, KeyFile: b.cfg.TLS.KeyFile}, b.logger.With("component", "admin"))
		if err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		tlsCfg = c
	} else if secured(b.cfg) {
		b.logger.Warn("admin listener serves plain HTTP: security is configured but [tls] has no certificate; console logins cross the network in clear")
	}
	var login *console.Login
	if consoleLogin(b.cfg) {
		login = &console.Login{Listener: b.loginListener}
		if b.cfg.TLS.CertFile != "" {
			login.TLS = selfTLS(b.cfg.TLS)
		}
	}
	con, err := console.New(console.Config{
		Bootstrap: b.kafkaAddr,
		NodeID:    b.cfg.NodeID,
		Registry:  b.metrics.Registry,
		Logger:    b.logger.With("component", "console"),
		Login:     login,
		NodeVersions: func() map[int32]string {
			if !b.serving.Load() {
				return nil
			}
			out := map[int32]string{}
			for _, br := range b.ctrl.Image().Brokers {
				out[int32(br.ID)] = br.Version
			}
			return out
		},
	})
	if err != nil {
		return err
	}
	b.console = con
	// With security configured the profiles need the console's login or
	// the metrics credentials; with TLS only (no users to sign in with)
	// the metrics credentials when set, else they stay open as the
	// console does.
	var protect func(http.Handler) http.Handler
	switch {
	case login != nil:
		protect = con.RequireOperator
	case secured(b.cfg) && b.cfg.Admin.MetricsUsername != "":
		protect = func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("WWW-Authenticate", `Basic realm="strom", charset="UTF-8"`)
				http.Error(w, "credentials required", http.StatusUnauthorized)
			})
		}
	}
	s, err := admin.Start(admin.Config{
		TLS:                 tlsCfg,
		Console:             con,
		ProtectProfiles:     protect,
		Address:             b.cfg.Admin.Address,
		Registry:            b.metrics.Registry,
		Ready:               b.Ready,
		MetricsUsername:     b.cfg.Admin.MetricsUsername,
		MetricsPasswordFile: b.cfg.Admin.MetricsPasswordFile,
		Logger:              b.logger.With("component", "admin"),
	})
	if err != nil {
		return err
	}
	b.admin = s
	b.logger.Info("admin listener", "addr", s.Addr().String(), "console", s.URL(), "login", login != nil)
	return nil
}

// secured reports whether security is configured: a listener other than
// PLAINTEXT, or SASL users. The admin listener then serves HTTPS with the
// [tls] certificate.
func secured(c config.Config) bool {
	if len(c.SASL.Users) > 0 {
		return true
	}
	for _, l := range c.KafkaListeners() {
		if l.Protocol != "PLAINTEXT" {
			return true
		}
	}
	return false
}

// consoleLogin reports whether the console requires a login: the node has
// a SASL listener or SASL users (a login is a SASL authentication to this
// node).
func consoleLogin(c config.Config) bool {
	if len(c.SASL.Users) > 0 {
		return true
	}
	for _, l := range c.KafkaListeners() {
		if l.Protocol == "SASL_PLAINTEXT" || l.Protocol == "SASL_SSL" {
			return true
		}
	}
	return false
}

// loginListener is the SASL listener console logins authenticate on, and
// its mechanisms: the first SASL listener, passing over SASL_SSL ones
// when [tls] client_auth is required (the console has no client
// certificate) while another exists. Empty when the node has none.
func (b *Broker) loginListener() (addr string, mechanisms []string, useTLS bool) {
	ls := b.cfg.KafkaListeners()
	pick := -1
	for i, l := range ls {
		if l.Protocol != "SASL_PLAINTEXT" && l.Protocol != "SASL_SSL" {
			continue
		}
		if pick < 0 {
			pick = i
		}
		if l.Protocol == "SASL_SSL" && b.cfg.TLS.ClientAuth == "required" && ls[pick].Protocol == "SASL_SSL" {
			continue
		}
		pick = i
		break
	}
	if pick < 0 {
		return "", nil, false
	}
	mechs := ls[pick].SASLMechanisms
	if len(mechs) == 0 {
		mechs = auth.Mechanisms()
	}
	return b.listenerAddr(pick), mechs, ls[pick].Protocol == "SASL_SSL"
}

// selfTLS is the console's client TLS config for the cluster's SASL_SSL
// listeners. It trusts this node's own certificate (the leaf of
// tls.cert_file, read again at each handshake so a reloaded certificate
// is trusted too) whatever issued it and whatever name it carries, and
// another node's certificate when it chains, for the name dialed, to a CA
// in tls.cert_file's chain, in tls.client_ca_file or in the system roots.
func selfTLS(cfg config.TLS) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is VerifyConnection's, below.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the listener presented no certificate")
			}
			own, err := pemCerts(cfg.CertFile)
			if err != nil {
				return err
			}
			leaf := cs.PeerCertificates[0]
			if len(own) > 0 && bytes.Equal(own[0].Raw, leaf.Raw) {
				return nil
			}
			roots, err := x509.SystemCertPool()
			if err != nil {
				roots = x509.NewCertPool()
			}
			if len(own) > 1 {
				for _, c := range own[1:] {
					roots.AddCert(c)
				}
			}
			if cfg.ClientCAFile != "" {
				cas, err := pemCerts(cfg.ClientCAFile)
				if err != nil {
					return err
				}
				for _, c := range cas {
					roots.AddCert(c)
				}
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err = leaf.Verify(x509.VerifyOptions{DNSName: cs.ServerName, Roots: roots, Intermediates: inter})
			return err
		},
	}
}

// pemCerts reads the certificates of a PEM file, in order.
func pemCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, data = pem.Decode(data); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no certificate", path)
	}
	return out, nil
}

// kafkaAddr is the address the console's client dials: this node's own
// Kafka listener, as advertised — the first PLAINTEXT one when
// [[listeners]] names several (the console has no credentials; with no
// PLAINTEXT listener its pages show the connection error).
func (b *Broker) kafkaAddr() string {
	for i, l := range b.cfg.KafkaListeners() {
		if l.Protocol == "PLAINTEXT" {
			return b.listenerAddr(i)
		}
	}
	if b.serving.Load() && b.cfg.Advertise == "" && !b.cfg.Clustered() {
		return b.srv.Addr().String()
	}
	return b.cfg.AdvertisedAddr()
}

// listenerAddr is the address of the i-th Kafka listener for a client on
// this node: as advertised, else as bound.
func (b *Broker) listenerAddr(i int) string {
	l := b.cfg.KafkaListeners()[i]
	if l.Advertise != "" {
		return l.Advertise
	}
	if b.serving.Load() && !b.cfg.Clustered() {
		return b.srv.Listeners()[i].Addr.String()
	}
	return l.Address
}

// AdminAddr is the admin listener's bound address, nil when it is off.
func (b *Broker) AdminAddr() string {
	if b.admin == nil {
		return ""
	}
	return b.admin.Addr().String()
}

// AdminURL is the admin listener's base URL (https:// with security
// configured), empty when it is off.
func (b *Broker) AdminURL() string {
	if b.admin == nil {
		return ""
	}
	return b.admin.URL()
}

// errNotServing is /readyz's answer before Start has finished.
var errNotServing = errors.New("starting: waiting for the metadata quorum and opening partitions")

// Ready reports whether the node serves clients with current metadata: it
// has joined its metadata quorum and caught up, opened every partition it
// hosts, and still hears from the quorum.
func (b *Broker) Ready() error {
	if !b.serving.Load() {
		if b.stopping.Load() {
			return errors.New("shutting down")
		}
		return errNotServing
	}
	if b.stopping.Load() {
		return errors.New("shutting down")
	}
	if !b.ctrl.Fresh() {
		return errors.New("cut off from the metadata quorum")
	}
	im := b.ctrl.Image()
	self := ids.NodeID(b.cfg.NodeID)
	for _, t := range im.Topics {
		for _, p := range t.Partitions {
			if hosts(p, self) && b.parts.Get(t.Name, p.Index) == nil {
				return errors.New("partition " + t.Name + " not open yet")
			}
		}
	}
	return nil
}

func hosts(p metadata.Partition, n ids.NodeID) bool {
	for _, r := range p.Replicas {
		if r == n {
			return true
		}
	}
	return false
}

// metricSources reads the node's state for /metrics; each returns nothing
// until the node serves.
func (b *Broker) metricSources() metrics.Sources {
	return metrics.Sources{
		Partitions: func() []metrics.PartitionState {
			if !b.serving.Load() {
				return nil
			}
			return b.partitionStates()
		},
		Cluster: func() metrics.ClusterState {
			if !b.serving.Load() {
				return metrics.ClusterState{}
			}
			return b.clusterState()
		},
		Raft: func() (metrics.RaftState, bool) {
			if b.raft == nil || !b.serving.Load() {
				return metrics.RaftState{}, false
			}
			q := b.raft.Quorum()
			return metrics.RaftState{Role: q.Role, Term: q.Term, CommitIndex: q.CommitIndex, AppliedIndex: q.AppliedIndex, LastIndex: q.LastIndex}, true
		},
		Groups: func() []metrics.GroupState {
			if !b.serving.Load() || b.groups == nil {
				return nil
			}
			return b.groupStates()
		},
		EndOffsets: b.remoteEndOffsets,
	}
}

func (b *Broker) partitionStates() []metrics.PartitionState {
	im := b.ctrl.Image()
	parts := b.parts.All()
	out := make([]metrics.PartitionState, 0, len(parts))
	for _, p := range parts {
		t := im.Topics[p.Topic]
		if t == nil || int(p.Index) >= len(t.Partitions) {
			continue
		}
		pm := t.Partitions[p.Index]
		o := p.Offsets()
		cfg := p.Config()
		st := metrics.PartitionState{
			Topic:     p.Topic,
			Internal:  t.Internal || metadata.IsInternal(p.Topic),
			Partition: p.Index,
			Leader:    int32(pm.Leader),
			IsLeader:  pm.Leader == ids.NodeID(b.cfg.NodeID),
			Preferred: len(pm.Replicas) > 0 && pm.Leader == pm.Replicas[0],
			Replicas:  len(pm.Replicas),
			ISR:       len(pm.ISR),
			MinISR:    int(cfg.MinInsyncReplicas),
			Offline:   p.Failed() != nil,
			LogStart:  int64(o.LogStart),
			HW:        int64(o.HighWatermark),
			LogEnd:    int64(o.LogEnd),
			Size:      p.Size(),
			Segments:  p.Segments(),
		}
		out = append(out, st)
	}
	return out
}

func (b *Broker) clusterState() metrics.ClusterState {
	im := b.ctrl.Image()
	cs := metrics.ClusterState{
		ActiveController: b.raft == nil || b.raft.Quorum().Role == "Leader",
		Topics:           make(map[string]int32, len(im.Topics)),
	}
	for _, br := range im.Brokers {
		if !br.Fenced {
			cs.Brokers++
		}
	}
	for name, t := range im.Topics {
		cs.Topics[name] = int32(len(t.Partitions))
		for _, p := range t.Partitions {
			if _, ok := im.LiveBroker(p.Leader); !ok {
				cs.Offline++
			}
		}
	}
	return cs
}

func (b *Broker) groupStates() []metrics.GroupState {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := b.groups.Stats(ctx)
	if err != nil {
		return nil
	}
	out := make([]metrics.GroupState, 0, len(stats))
	for _, g := range stats {
		gs := metrics.GroupState{Group: g.ID, State: g.State, Protocol: g.Protocol, Members: g.Members}
		for tp, o := range g.Offsets {
			gs.Offsets = append(gs.Offsets, metrics.GroupOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: o.Offset})
		}
		out = append(out, gs)
	}
	return out
}

// lagClient asks other nodes for end offsets, for the lag of groups
// coordinated here on partitions led elsewhere; made on first use.
type lagClient struct {
	once sync.Once
	cl   *kgo.Client
	adm  *kadm.Client
}

func (b *Broker) remoteEndOffsets(ctx context.Context, tps []metrics.TopicPartition) map[metrics.TopicPartition]int64 {
	if !b.serving.Load() || b.raft == nil {
		return nil
	}
	b.lag.once.Do(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.cfg.AdvertisedAddr()), kgo.ClientID("strom-metrics"))
		if err != nil {
			b.logger.Warn("metrics: no client for remote end offsets", "err", err)
			return
		}
		b.lag.cl, b.lag.adm = cl, kadm.NewClient(cl)
	})
	if b.lag.adm == nil {
		return nil
	}
	topics := map[string]bool{}
	for _, tp := range tps {
		topics[tp.Topic] = true
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	ends, err := b.lag.adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil
	}
	out := make(map[metrics.TopicPartition]int64, len(tps))
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			out[metrics.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
		}
	})
	return out
}

// countLeaderChanges counts the partitions whose leader or leader epoch
// differ between two images, for strom_leader_elections_total.
func countLeaderChanges(prev, next *metadata.Image) {
	if prev == nil {
		return
	}
	n := 0
	for name, t := range next.Topics {
		pt := prev.Topics[name]
		for i, p := range t.Partitions {
			if pt == nil || i >= len(pt.Partitions) {
				continue // a new partition's first leader is no election
			}
			if op := pt.Partitions[i]; op.Leader != p.Leader && p.Leader != ids.NoNode {
				n++
			}
		}
	}
	if n > 0 {
		metrics.LeaderElections.Add(float64(n))
	}
}
