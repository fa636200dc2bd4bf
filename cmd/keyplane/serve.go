package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/config"
	"keyplane/internal/idempotency"
	"keyplane/internal/lifecycle"
	"keyplane/internal/oidc"
	"keyplane/internal/optoken"
	"keyplane/internal/org"
	"keyplane/internal/product"
	"keyplane/internal/quota"
	"keyplane/internal/ratelimit"
	"keyplane/internal/redisbreaker"
	"keyplane/internal/secretbox"
	"keyplane/internal/setup"
	"keyplane/internal/store"
	"keyplane/internal/twofactor"
	"keyplane/internal/usage"
	"keyplane/internal/verify"
	"keyplane/internal/webhook"
	"keyplane/web"
)

// startReplayTimeout bounds the replay of spill files before the server
// takes requests.
const startReplayTimeout = 5 * time.Second

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func openDB(ctx context.Context, cfg config.Config) (*store.DB, error) {
	return store.Open(ctx, store.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
}

// serveGCPercent is the garbage collector's target (GOGC) of keyplane
// serve when GOGC is not set: the heap may grow to five times what is live
// between collections, trading memory for CPU.
const serveGCPercent = 400

// serve runs the HTTP server until ctx ends (SIGTERM or SIGINT), then stops
// accepting, drains in-flight requests and returns nil.
func serve(ctx context.Context, cfg config.Config, logs io.Writer) error {
	logger := newLogger(cfg, logs)
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	secret, err := sessionSecret(cfg)
	if err != nil {
		return err
	}
	box, err := encryptionBox(cfg)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	accounts := account.NewService(db, nil)
	throttle := account.NewThrottle(nil)
	var limiter verify.Limiter = verify.NewMemoryLimiter()
	var quotas quota.Counter = quota.NewMemory()
	var apiLimits ratelimit.Store // the management API's, per credential; in process when nil
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return &config.Error{Var: "REDIS_URL", Msg: "cannot be parsed (value not shown)"}
		}
		// Fail fast, so a Redis outage costs a request little before the
		// in-process fallback answers: the breaker bounds each call through
		// the context's deadline, and decides itself when to try again.
		opts.MaxRetries = -1
		opts.ContextTimeoutEnabled = true
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 200*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
		client := redis.NewClient(opts)
		defer client.Close()
		breaker := redisbreaker.New(redisbreaker.Options{Logger: logger})
		logins := ratelimit.NewRedis(client, breaker, "keyplane:login:", ratelimit.NewMemory(account.ThrottleMaxKeys))
		requests := ratelimit.NewRedis(client, breaker, "keyplane:rl:", nil)
		apiRequests := ratelimit.NewRedis(client, breaker, "keyplane:api:", ratelimit.NewMemory(web.APILimitKeys))
		apiLimits = apiRequests
		throttle = account.NewThrottleWith(logins, nil)
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "keyplane_redis_breaker_open",
			Help: "1 while the Redis circuit breaker keeps calls away from Redis (open or probing), 0 when closed.",
		}, func() float64 {
			if breaker.Open() {
				return 1
			}
			return 0
		}))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "keyplane_ratelimit_redis_fallbacks_total",
			Help: "Rate-limit and login-throttle calls answered in process because Redis could not be reached.",
		}, func() float64 {
			return float64(requests.Fallbacks.Load() + logins.Fallbacks.Load() + apiRequests.Fallbacks.Load())
		}))
		limiter = verify.NewLimiter(requests)
		redisQuotas := quota.NewRedis(client, breaker, "keyplane:quota:", nil)
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "keyplane_quota_redis_fallbacks_total",
			Help: "Quota checks answered in process because Redis could not be reached (handed over to Redis once it is back).",
		}, func() float64 { return float64(redisQuotas.Fallbacks.Load()) }))
		quotas = redisQuotas
	}
	staleIfError := cfg.StaleIfError
	if staleIfError == 0 {
		staleIfError = -1 // fail closed at the cache TTL
	}
	products, err := product.NewService(ctx, db, cfg, nil)
	if err != nil {
		return err
	}
	verifier := verify.New(verify.Options{
		Store: verify.DBStore{DB: db}, Limiter: limiter, Quota: quotas, Products: products, Logger: logger,
		StaleIfError: staleIfError, Metrics: verify.NewMetrics(reg),
	})
	hooks := webhook.NewService(db, webhook.Options{Box: box, AllowPrivate: cfg.WebhookAllowPrivate, Logger: logger})
	dispatcher := webhook.NewDispatcher(hooks, webhook.DispatcherOptions{Registerer: reg, Logger: logger})
	keyOpts := apikey.ConfigOptions(cfg)
	keyOpts.Changed, keyOpts.Products, keyOpts.Events = verifier.Invalidate, products.Rules, hooks
	if err := usage.CheckSpillDir(cfg.SpillDir); err != nil {
		return &config.Error{Var: "KEYPLANE_SPILL_DIR", Msg: "cannot hold usage spill files: " + err.Error()}
	}
	recorder := usage.NewRecorder(db, logger, reg)

	setupToken := cfg.SetupToken
	if has, err := accounts.HasUsers(ctx); err != nil {
		return err
	} else if !has {
		if setupToken == "" {
			b := make([]byte, 16)
			rand.Read(b)
			setupToken = hex.EncodeToString(b)
			logger.Info("no user exists yet: open /setup and enter the setup token", "url", cfg.BaseURL.String()+"/setup", "setup_token", setupToken)
		} else {
			logger.Info("no user exists yet: open /setup and enter the token set in KEYPLANE_SETUP_TOKEN", "url", cfg.BaseURL.String()+"/setup")
		}
	}

	orgs := org.NewService(db, nil, org.WithAccounts(accounts), org.WithEvents(hooks))
	keys := apikey.NewService(db, keyOpts)
	sso, linker, err := newSSO(cfg, db, accounts, orgs, secret)
	if err != nil {
		return err
	}
	srv := web.NewServer(web.Deps{
		Config: cfg, DB: db, Accounts: accounts, Orgs: orgs, Keys: keys, Products: products,
		Audit: audit.NewService(db, nil), UsageReader: usage.NewReader(db), Setup: setup.New(db, accounts, orgs, setupToken),
		Throttle: throttle, TwoFactor: twofactor.NewService(db, box, nil), Verifier: verifier, Usage: recorder, Metrics: reg,
		Idempotency: idempotency.NewService(db, nil), APILimits: apiLimits,
		Tokens: optoken.NewService(db, cfg.KeyPrefix, nil), Webhooks: hooks,
		SSO: sso, SSOLinker: linker,
		Logger: logger, SessionSecret: secret, Version: version,
	})
	httpSrv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	logger.Info("keyplane listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL.String(), "database", db.Dialect, "version", version)

	go pruneSessions(ctx, accounts, account.SessionLimits{Idle: cfg.SessionIdle, Max: cfg.SessionMax}, logger)
	go verifier.Watch(ctx, db, cfg.DatabaseURL)
	go verifier.Monitor(ctx, db)
	go products.Run(ctx, logger)
	go usage.RunRetention(ctx, db, cfg.UsageRetention, time.Now, time.Hour, logger)
	go hooks.RunPrune(ctx, logger)
	// Expiry reminders and idle keys, every minute on every replica; each
	// event is claimed in the database, so it is sent once.
	go lifecycle.New(db, keys, lifecycle.Options{Events: hooks, Logger: logger}).Run(ctx)
	// A rotation's quiet-hour rule, every minute on every replica; each
	// grace period is ended once.
	go keys.RunQuietGraces(ctx, time.Minute, 30*time.Second, logger)

	// Usage outlives the HTTP server: requests drain first (at most 20 s),
	// then the last counts are flushed, retried for at most 8 s and, with
	// the database still away, spilled to a file that the next start
	// writes. Worst case 28 s, inside the 30 s Kubernetes grants after
	// SIGTERM; with a prompt drain, about 8 s, inside docker stop's 10 s.
	recorder.SpillDir = cfg.SpillDir
	recorder.FinalFlush = 8 * time.Second
	// Spill files are written before the first request, so the quota
	// amounts they hold count when keys are first loaded; a database that
	// cannot take them yet gets them from Run's retries.
	replayCtx, cancelReplay := context.WithTimeout(ctx, startReplayTimeout)
	if err := recorder.Replay(replayCtx); err != nil {
		logger.Warn("usage: spill files not written at start; will retry", "err", err)
	}
	cancelReplay()
	usageCtx, stopUsage := context.WithCancel(context.Background())
	usageDone := make(chan struct{})
	go func() { recorder.Run(usageCtx); close(usageDone) }()
	defer func() { stopUsage(); <-usageDone }()

	// Webhook deliveries stop after the HTTP drain, beside the usage
	// flush: attempts in flight get a few seconds (webhook.
	// DefaultShutdownGrace) and are otherwise left in the outbox, where
	// the next claim, here or on another replica, finds them.
	hooksCtx, stopHooks := context.WithCancel(context.Background())
	hooksDone := make(chan struct{})
	go func() { dispatcher.Run(hooksCtx); close(hooksDone) }()
	defer func() { stopHooks(); <-hooksDone }()

	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Both wind down together, inside the usage flush's 8 s.
	stopHooks()
	stopUsage()
	<-hooksDone
	<-usageDone
	logger.Info("stopped")
	return nil
}

// ssoCallbackPath is the route the provider sends people back to; its
// absolute URL (KEYPLANE_BASE_URL + ssoCallbackPath) is the redirect URI to
// register at the provider.
const ssoCallbackPath = "/login/sso/callback"

// newSSO returns the single sign-on client and linker when cfg.OIDC is
// enabled, else nils. The flow cookie is sealed with keys derived from the
// effective session secret. No request goes to the provider here: Keyplane
// starts while it is down.
func newSSO(cfg config.Config, db *store.DB, accounts *account.Service, orgs *org.Service, secret []byte) (*oidc.Client, *oidc.Linker, error) {
	if !cfg.OIDC.Enabled() {
		return nil, nil, nil
	}
	client, err := oidc.New(oidc.Options{
		Issuer: cfg.OIDC.Issuer, ClientID: cfg.OIDC.ClientID, ClientSecret: cfg.OIDC.ClientSecret,
		RedirectURL: cfg.BaseURL.String() + ssoCallbackPath, Name: cfg.OIDC.Name,
		CookieSecret: secret, DB: db,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("single sign-on: %w", err)
	}
	return client, oidc.NewLinker(db, accounts, orgs, cfg.OIDC), nil
}

// sessionSecret returns KEYPLANE_SESSION_SECRET, or on SQLite a secret
// generated once into the data dir.
func sessionSecret(cfg config.Config) ([]byte, error) {
	return dataDirSecret(cfg, cfg.SessionSecret, "session.key", "session secret")
}

// encryptionBox returns the box that seals TOTP seeds and webhook signing
// secrets: under
// KEYPLANE_ENCRYPTION_KEY, or on SQLite a key generated once into the data
// dir (a backup of the database alone then does not open the seeds).
func encryptionBox(cfg config.Config) (*secretbox.Box, error) {
	key, err := dataDirSecret(cfg, cfg.EncryptionKey, "encryption.key", "encryption key")
	if err != nil {
		return nil, err
	}
	return secretbox.New(secretbox.Key{ID: 1, Secret: key})
}

// dataDirSecret returns configured when set, else the secret kept in file
// in the data dir, generating it (32 random bytes, hex) the first time.
func dataDirSecret(cfg config.Config, configured []byte, file, what string) ([]byte, error) {
	if len(configured) > 0 {
		return configured, nil
	}
	path := filepath.Join(cfg.DataDir, file)
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	b := make([]byte, 32)
	rand.Read(b)
	secret := []byte(hex.EncodeToString(b))
	if err := os.WriteFile(path, secret, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", what, err)
	}
	return secret, nil
}

func pruneSessions(ctx context.Context, accounts *account.Service, limits account.SessionLimits, logger *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := accounts.PruneSessions(ctx, limits); err != nil && ctx.Err() == nil {
			logger.Warn("prune sessions", "err", err)
		} else if n > 0 {
			logger.Info("pruned expired sessions", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
