package controller

import (
	"errors"
	"testing"

	"github.com/strom-broker/strom/internal/ids"
)

func TestPlaceReplicasSpreadsLeaders(t *testing.T) {
	im := threeBrokers(t)
	a, err := placeReplicas(im, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[ids.NodeID]bool{}
	for _, reps := range a {
		leaders[reps[0]] = true
		if len(reps) != 3 {
			t.Fatalf("replicas %v", reps)
		}
	}
	if len(leaders) != 3 {
		t.Fatalf("leaders not spread: %v", a)
	}
	if _, err := placeReplicas(im, 1, 4); !errors.Is(err, ErrInvalidReplicationFactor) {
		t.Fatalf("rf 4 on 3 brokers: %v", err)
	}
}
