package main

// A webhook receiver program for the notify scripts (testdata/notify_*.txtar),
// registered with testscript.Main like the daemon helpers:
//
//	webhookrecv ADDRFILE LOGFILE [-secret S] [-status CODE]
//	    listens on 127.0.0.1:0, writes the address to ADDRFILE, and appends
//	    one line per request to LOGFILE:
//	    "<Idempotency-Key> <sig-ok|sig-bad|unsigned> <type> <User-Agent>".
//	    It answers CODE (default 200) until killed.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
)

func webhookrecvProgram() { os.Exit(webhookrecvMain(os.Args[1:])) }

func webhookrecvMain(args []string) int {
	fs := flag.NewFlagSet("webhookrecv", flag.ContinueOnError)
	secret := fs.String("secret", "", "HMAC key to check signatures with")
	status := fs.Int("status", http.StatusOK, "status to answer")
	if len(args) < 2 {
		return progFail("webhookrecv", "usage: webhookrecv ADDRFILE LOGFILE [-secret S] [-status CODE]")
	}
	if err := fs.Parse(args[2:]); err != nil {
		return 2
	}
	out, err := os.OpenFile(args[1], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return progFail("webhookrecv", "%v", err)
	}
	defer out.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return progFail("webhookrecv", "%v", err)
	}
	var mu sync.Mutex
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sig := "unsigned"
		if h := r.Header.Get("X-Container-Watchdog-Signature"); h != "" {
			mac := hmac.New(sha256.New, []byte(*secret))
			mac.Write(body)
			sig = "sig-bad"
			if hmac.Equal([]byte(h), []byte("sha256="+hex.EncodeToString(mac.Sum(nil)))) {
				sig = "sig-ok"
			}
		}
		var m struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(body, &m)
		mu.Lock()
		fmt.Fprintf(out, "%s %s %s %s\n", r.Header.Get("Idempotency-Key"), sig, m.Type, r.Header.Get("User-Agent"))
		mu.Unlock()
		w.WriteHeader(*status)
	})
	if err := writeFileAtomic(args[0], ln.Addr().String()+"\n"); err != nil {
		return progFail("webhookrecv", "%v", err)
	}
	return progFail("webhookrecv", "%v", http.Serve(ln, handler))
}
