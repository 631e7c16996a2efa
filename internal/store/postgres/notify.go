package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/kiln-build/kiln/internal/store"
)

// Notify sends a NOTIFY on channel, which every node's listener (this
// one's included) turns into wake-ups of its subscribers. NOTIFY is
// transactional; sent on its own it is delivered at once.
func (s *Store) Notify(ctx context.Context, channel string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, "SELECT pg_notify($1, '')", channel)
	return err
}

// Subscribe registers a subscriber of channel. The first subscriber of a
// channel makes the listener LISTEN on it, which takes effect shortly
// after Subscribe returns.
func (s *Store) Subscribe(channel string) (<-chan struct{}, func()) {
	return s.listen.subscribe(channel)
}

// listener owns one connection, outside the pool, that LISTENs on every
// channel with subscribers and fans notifications out to them. When the
// connection drops it reconnects with backoff and then wakes every
// subscriber, since notifications sent meanwhile were lost: a wake-up only
// says "look again", so a spurious one is harmless and a lost one is not.
type listener struct {
	cfg     *pgx.ConnConfig
	wakeups store.Wakeups
	kick    chan struct{} // a channel was subscribed: LISTEN on it
	stop    chan struct{}
	done    chan struct{}

	once sync.Once // starts run on the first Subscribe
}

func newListener(cfg *pgx.ConnConfig) *listener {
	// Waiting for a notification is cut short (to LISTEN on a new channel)
	// by cancelling its context. The default handler would send the server
	// a cancel request, which could hit the next LISTEN; a read deadline
	// interrupts only the wait and leaves the connection usable.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	return &listener{
		cfg:  cfg,
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
}

func (l *listener) subscribe(channel string) (<-chan struct{}, func()) {
	l.once.Do(func() { go l.run() })
	ch, stop := l.wakeups.Subscribe(channel)
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return ch, stop
}

func (l *listener) close() {
	started := false
	l.once.Do(func() { close(l.done) }) // never started: nothing to wait for
	select {
	case <-l.done:
	default:
		started = true
	}
	close(l.stop)
	if started {
		<-l.done
	}
}

// run connects, listens and dispatches until close.
func (l *listener) run() {
	defer close(l.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-l.stop
		cancel()
	}()
	backoff := 100 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		conn, err := pgx.ConnectConfig(ctx, l.cfg)
		if err == nil {
			if !first {
				l.wakeups.WakeAll()
			}
			backoff = 100 * time.Millisecond
			err = l.serve(ctx, conn)
			conn.Close(context.Background())
		}
		if ctx.Err() != nil {
			return
		}
		_ = err // the next connection attempt reports nothing more useful
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// serve LISTENs on the subscribed channels and waits for notifications
// until the connection fails or ctx ends.
func (l *listener) serve(ctx context.Context, conn *pgx.Conn) error {
	listening := map[string]bool{}
	for {
		for _, ch := range l.wakeups.Channels() {
			if listening[ch] {
				continue
			}
			if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
				return err
			}
			listening[ch] = true
			// Work announced before the LISTEN took effect was missed.
			l.wakeups.Wake(ch)
		}
		wctx, wcancel := context.WithCancel(ctx)
		kicked := make(chan struct{})
		go func() {
			select {
			case <-l.kick:
				close(kicked)
				wcancel()
			case <-wctx.Done():
			}
		}()
		n, err := conn.WaitForNotification(wctx)
		wcancel()
		if err == nil {
			l.wakeups.Wake(n.Channel)
			continue
		}
		select {
		case <-kicked:
			if conn.IsClosed() {
				return errors.New("postgres: listen connection lost")
			}
			continue
		default:
		}
		return err
	}
}
