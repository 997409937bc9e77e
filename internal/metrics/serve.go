package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Limits of the metrics listener. Scrapes are small GETs from a few
// Prometheus servers, so the limits are tight.
const (
	maxConns          = 16
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	shutdownTimeout   = 5 * time.Second
)

// Serve listens on addr and serves /metrics, /healthz and /readyz until ctx is
// cancelled; see ServeListener.
func Serve(ctx context.Context, addr string, logger *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil // told to stop before it started
		}
		return fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, logger)
}

// ServeListener serves /metrics (Handler), /healthz (200 "ok") and /readyz
// (200 "ok" when every AddReadyCheck check passes, else 503) on ln
// until ctx is cancelled, then shuts down gracefully, giving scrapes in
// progress a few seconds to finish. It returns nil after a shutdown caused
// by ctx, and the error otherwise. It closes ln.
func ServeListener(ctx context.Context, ln net.Listener, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", serveReady)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	addr := ln.Addr().String()
	logger.Info("metrics listening", "addr", addr)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(netutil.LimitListener(ln, maxConns)) }()

	select {
	case err := <-served:
		return fmt.Errorf("metrics: serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		logger.Warn("metrics server stopped with an error", "addr", addr, "err", serveErr)
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("metrics: shutdown %s: %w", addr, err)
	}
	logger.Info("metrics stopped", "addr", addr)
	return nil
}
