// Command pion_turn is a small TURN server on Pion's turn/v2 for icegather's tests, after
// Pion's examples/turn-server/simple (and .../tcp). It differs from the example in what the
// tests need: it listens on -public-ip itself (loopback), not on 0.0.0.0; passwords may hold
// any character but ',' (the example's \w+ pattern drops "correct-horse-battery-staple"); -tcp
// also serves TURN over TCP on the same port; it logs to stderr at -log-level.
package main

import (
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/pion/logging"
	"github.com/pion/turn/v2"
)

func main() {
	publicIP := flag.String("public-ip", "127.0.0.1", "IP address to listen on, relay on and announce as the relayed address")
	port := flag.Int("port", 3478, "listening port (UDP, and TCP with -tcp)")
	users := flag.String("users", "", "users and passwords, e.g. \"alice=pass,bob=pass\"")
	realm := flag.String("realm", "pion.ly", "realm")
	useTCP := flag.Bool("tcp", false, "also serve TURN over TCP on the same port")
	logLevel := flag.String("log-level", "info", "pion log level: disable, error, warn, info, debug, trace")
	flag.Parse()

	ip := net.ParseIP(*publicIP)
	if ip == nil {
		log.Fatalf("-public-ip %q is not an IP address", *publicIP)
	}
	usersMap := map[string][]byte{}
	for _, pair := range strings.Split(*users, ",") {
		name, password, ok := strings.Cut(pair, "=")
		if !ok || name == "" {
			continue
		}
		usersMap[name] = turn.GenerateAuthKey(name, *realm, password)
	}
	if len(usersMap) == 0 {
		log.Fatalf("-users is required (\"name=password,...\")")
	}

	network := "4"
	if ip.To4() == nil {
		network = "6"
	}
	address := net.JoinHostPort(ip.String(), strconv.Itoa(*port))
	// Relays on the listening address too: every address of this server stays on loopback.
	relay := func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorStatic{RelayAddress: ip, Address: ip.String()}
	}

	loggerFactory := logging.NewDefaultLoggerFactory()
	loggerFactory.DefaultLogLevel = logging.LogLevelInfo
	if level, ok := map[string]logging.LogLevel{
		"disable": logging.LogLevelDisabled, "error": logging.LogLevelError, "warn": logging.LogLevelWarn,
		"info": logging.LogLevelInfo, "debug": logging.LogLevelDebug, "trace": logging.LogLevelTrace,
	}[*logLevel]; ok {
		loggerFactory.DefaultLogLevel = level
	}

	config := turn.ServerConfig{
		Realm:         *realm,
		LoggerFactory: loggerFactory,
		AuthHandler: func(username, realm string, srcAddr net.Addr) ([]byte, bool) {
			key, ok := usersMap[username]
			return key, ok
		},
	}
	udpListener, err := net.ListenPacket("udp"+network, address)
	if err != nil {
		log.Fatalf("UDP listen on %s: %s", address, err)
	}
	config.PacketConnConfigs = []turn.PacketConnConfig{{PacketConn: udpListener, RelayAddressGenerator: relay()}}
	if *useTCP {
		tcpListener, err := net.Listen("tcp"+network, address)
		if err != nil {
			log.Fatalf("TCP listen on %s: %s", address, err)
		}
		config.ListenerConfigs = []turn.ListenerConfig{{Listener: tcpListener, RelayAddressGenerator: relay()}}
	}

	server, err := turn.NewServer(config)
	if err != nil {
		log.Fatalf("TURN server: %s", err)
	}
	log.Printf("pion/turn listening on %s (tcp: %v), realm %q, %d users", address, *useTCP, *realm, len(usersMap))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
	if err := server.Close(); err != nil {
		log.Fatalf("close: %s", err)
	}
}
