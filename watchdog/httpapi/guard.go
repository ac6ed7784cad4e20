package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// guard wraps every route: each response says nosniff, and on a loopback
// listener a request whose Host is neither the listening address,
// localhost nor a loopback address is refused with 421. A web page the
// operator opens elsewhere can point its own name at 127.0.0.1 (DNS
// rebinding) and so reach this server as "same origin"; its requests still
// carry that name in Host, which is what this refuses. A listener on a
// non-loopback address is reached by name on purpose, so it checks nothing.
func guard(listen net.Addr, h http.Handler) http.Handler {
	loopback := isLoopback(listen)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if loopback && !allowedHost(r.Host, listen) {
			http.Error(w, fmt.Sprintf("misdirected request: Host %q is not this loopback listener (%s), localhost or a loopback address", r.Host, listen), http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// allowedHost says host (a Host header: name or address, maybe a port)
// names this loopback listener.
func allowedHost(host string, listen net.Addr) bool {
	if host == "" {
		return false
	}
	if host == listen.String() {
		return true
	}
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = host, ""
	}
	if _, err := strconv.ParseUint(port, 10, 16); port != "" && err != nil {
		return false
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if strings.EqualFold(name, "localhost") {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}
