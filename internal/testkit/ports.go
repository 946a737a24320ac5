package testkit

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// Ports for servers a test starts are picked below the kernel's ephemeral
// range (32768-60999 on Linux): a port that "listen :0" hands out and the
// test then closes can be taken by any client's outgoing connection before
// the server binds it, which made cluster starts fail with "address
// already in use". Ports handed out are remembered so two servers of one
// test binary never get the same one.
const (
	portLow  = 20000
	portHigh = 32000
)

var ports struct {
	sync.Mutex
	given map[int]bool
}

// reservePort returns a loopback port that was free a moment ago and has
// not been handed out by this process before.
func reservePort() (int, error) {
	ports.Lock()
	defer ports.Unlock()
	if ports.given == nil {
		ports.given = map[int]bool{}
	}
	for range 200 {
		p := portLow + rand.IntN(portHigh-portLow)
		if ports.given[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		ports.given[p] = true
		return p, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreePort is reservePort for programs outside tests (the benchmark
// driver starts brokers too).
func FreePort() (int, error) { return reservePort() }
