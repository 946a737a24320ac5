package testkit

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// socketInode finds, in /proc/net/tcp, the inode of the IPv4 socket whose
// local address is local and peer address is peer: the client end of a
// connection a proxy accepted (local = the accepted conn's RemoteAddr, peer =
// its LocalAddr). It returns "" when there is none.
func socketInode(local, peer net.Addr) string {
	l, ok1 := local.(*net.TCPAddr)
	r, ok2 := peer.(*net.TCPAddr)
	if !ok1 || !ok2 {
		return ""
	}
	want := procAddr(l) + " " + procAddr(r)
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		if fs[1]+" "+fs[2] == want {
			return fs[9]
		}
	}
	return ""
}

// procAddr renders a TCP address as /proc/net/tcp does: the IPv4 address
// as a little-endian hex word, then the port in hex.
func procAddr(a *net.TCPAddr) string {
	ip := a.IP.To4()
	if ip == nil {
		return ""
	}
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port)
}

// pidHoldsSocket reports whether process pid has the socket with inode open.
func pidHoldsSocket(pid int, inode string) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	want := "socket:[" + inode + "]"
	for _, e := range ents {
		if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && l == want {
			return true
		}
	}
	return false
}
