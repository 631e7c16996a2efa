package sqlite

import (
	"context"

	"github.com/kiln-build/kiln/internal/store"
)

var _ store.Notifier = (*Store)(nil)

// Notify wakes channel's subscribers in this process: a SQLite database
// has one kiln process using it, so every subscriber is here.
func (s *Store) Notify(ctx context.Context, channel string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	s.wakeups.Wake(channel)
	return nil
}

// Subscribe registers a subscriber of channel; see store.Notifier.
func (s *Store) Subscribe(channel string) (<-chan struct{}, func()) {
	return s.wakeups.Subscribe(channel)
}
