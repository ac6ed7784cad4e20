package systemd

import "os"

func listenNames() string { return os.Getenv("LISTEN_FDNAMES") }
