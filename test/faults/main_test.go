// Package faults_test runs the broker on disks that fail: a real full disk
// (a small tmpfs) and, through internal/vfs/errorfs, every failure of the
// fault matrix (STROM_FAULTS=full, `make fault-matrix`).
package faults_test

import (
	"testing"

	"github.com/strom-broker/strom/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }
