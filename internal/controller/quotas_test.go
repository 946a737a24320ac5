package controller

import (
	"reflect"
	"testing"

	"github.com/strom-broker/strom/internal/metadata"
)

func strp(s string) *string   { return &s }
func f64p(v float64) *float64 { return &v }

// TestAlterClientQuotasApply sets, replaces and removes quotas of a named
// and a default entity, and the image keeps them through its codec (the
// single-node file and Raft snapshots).
func TestAlterClientQuotasApply(t *testing.T) {
	im := emptyImage()
	alice := []metadata.QuotaComponent{{Type: "user", Name: strp("alice")}}
	defClient := []metadata.QuotaComponent{{Type: "user", Name: strp("alice")}, {Type: "client-id"}}
	cmd := &AlterClientQuotas{Changes: []ClientQuotaChange{
		{Entity: alice, Key: "producer_byte_rate", Value: f64p(1024)},
		{Entity: alice, Key: "consumer_byte_rate", Value: f64p(2048)},
		{Entity: defClient, Key: "request_percentage", Value: f64p(12.5)},
	}}
	next, _, err := cmd.apply(im)
	if err != nil {
		t.Fatal(err)
	}
	want := map[metadata.QuotaEntity]map[string]float64{
		{User: metadata.Named("alice")}:                                 {"producer_byte_rate": 1024, "consumer_byte_rate": 2048},
		{User: metadata.Named("alice"), ClientID: metadata.DefaultName}: {"request_percentage": 12.5},
	}
	if !reflect.DeepEqual(next.ClientQuotas, want) {
		t.Fatalf("quotas %v, want %v", next.ClientQuotas, want)
	}
	if im.ClientQuotas != nil {
		t.Fatal("apply changed the image before it")
	}
	raw, err := encodeImage(next)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeImage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.ClientQuotas, want) {
		t.Fatalf("decoded quotas %v, want %v", back.ClientQuotas, want)
	}
	rm := &AlterClientQuotas{Changes: []ClientQuotaChange{
		{Entity: alice, Key: "producer_byte_rate"},
		{Entity: alice, Key: "consumer_byte_rate"},
		{Entity: defClient, Key: "request_percentage"},
	}}
	last, _, err := rm.apply(next)
	if err != nil {
		t.Fatal(err)
	}
	if last.ClientQuotas != nil {
		t.Fatalf("quotas after removing all: %v", last.ClientQuotas)
	}
	bad := &AlterClientQuotas{Changes: []ClientQuotaChange{{Entity: []metadata.QuotaComponent{{Type: "group", Name: strp("g")}}, Key: "producer_byte_rate", Value: f64p(1)}}}
	if _, _, err := bad.apply(im); err == nil {
		t.Fatal("an unknown entity type was applied")
	}
}
