package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reapInterval is how often the reaper looks at the groups. A dead member
// outlives its timeout by up to this much.
const reapInterval = 500 * time.Millisecond

// groupReaper removes dead members from classic consumer groups, which
// kfake does not always do itself, so that the live members of a group take
// over the partitions of one that crashed:
//
//   - kfake restarts a group's join deadline on every JoinGroup. Live
//     members whose JoinGroup times out on the client side join again, so
//     while a dead member holds the rebalance open the deadline never
//     comes, and the group never forms. Kafka ends the join phase one
//     rebalance timeout after it began; so does the reaper.
//   - kfake starts a member's session timer when its JoinGroup answer is
//     delivered; when the member died in the JoinGroup the answer cannot
//     be, and the member stays in the group, with partitions assigned,
//     for ever. Kafka starts that timer when it answers, delivered or
//     not; the reaper removes a member that sent nothing for its session
//     timeout after the group's current phase began.
//
// It learns of members and of their requests from the cluster's request
// hooks and of each group's state from kfake, and removes a member by
// sending the LeaveGroup a leaving member would.
type groupReaper struct {
	cluster *kfake.Cluster
	leaver  *kgo.Client
	logger  *slog.Logger

	mu     sync.Mutex
	groups map[string]*watchedGroup
}

// watchedGroup is what the reaper knows of one classic group.
type watchedGroup struct {
	// phase is the group's state and generation when last looked at, and
	// phaseAt a time at or before that phase began.
	phase   string
	phaseAt time.Time
	members map[string]*watchedMember
}

// watchedMember is what the reaper knows of one member.
type watchedMember struct {
	seen      time.Time // its last request
	joined    time.Time // its last JoinGroup
	session   time.Duration
	rebalance time.Duration
}

// startGroupReaper hooks the reaper into cluster and runs it until ctx
// ends; the returned function waits for it to stop.
func startGroupReaper(ctx context.Context, cluster *kfake.Cluster, logger *slog.Logger) (wait func(), err error) {
	leaver, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		return nil, fmt.Errorf("kafka group reaper: %w", err)
	}
	r := &groupReaper{cluster: cluster, leaver: leaver, logger: logger, groups: map[string]*watchedGroup{}}
	for _, key := range []kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.OffsetCommit} {
		cluster.ControlKey(int16(key), r.observe)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer leaver.Close()
		tick := time.NewTicker(reapInterval)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				r.reap(ctx, last, now)
				last = now
			}
		}
	}()
	return func() { <-done }, nil
}

// observe is the hook on every request that shows a member alive. It only
// watches: the request goes on to kfake.
func (r *groupReaper) observe(req kmsg.Request) (kmsg.Response, error, bool) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch req := req.(type) {
	case *kmsg.JoinGroupRequest:
		if req.MemberID == "" {
			// Its ID is made in this request; the member is met on the
			// next look at the group.
			r.group(req.Group)
			return nil, nil, false
		}
		m := r.member(req.Group, req.MemberID, now)
		m.seen, m.joined = now, now
		m.session = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
		m.rebalance = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	case *kmsg.SyncGroupRequest:
		r.seen(req.Group, req.MemberID, now)
	case *kmsg.HeartbeatRequest:
		r.seen(req.Group, req.MemberID, now)
	case *kmsg.OffsetCommitRequest:
		r.seen(req.Group, req.MemberID, now)
	}
	return nil, nil, false
}

// seen notes a request of a member of a watched group; other groups (KIP-848
// or share groups, or mere offset storage) are kfake's alone.
func (r *groupReaper) seen(group, member string, now time.Time) {
	if _, ok := r.groups[group]; ok && member != "" {
		r.member(group, member, now).seen = now
	}
}

func (r *groupReaper) group(name string) *watchedGroup {
	g := r.groups[name]
	if g == nil {
		g = &watchedGroup{members: map[string]*watchedMember{}}
		r.groups[name] = g
	}
	return g
}

// member is a watched member, met at now if it is new.
func (r *groupReaper) member(group, id string, now time.Time) *watchedMember {
	g := r.group(group)
	m := g.members[id]
	if m == nil {
		m = &watchedMember{seen: now, joined: now}
		g.members[id] = m
	}
	return m
}

// reap removes the dead members of every watched group. last is the
// previous look, now this one: a phase first seen now began after last.
func (r *groupReaper) reap(ctx context.Context, last, now time.Time) {
	r.mu.Lock()
	names := make([]string, 0, len(r.groups))
	for name := range r.groups {
		names = append(names, name)
	}
	r.mu.Unlock()
	for _, name := range names {
		// Asked without r.mu, which the hook on every group request
		// takes.
		info := r.cluster.GroupInfo(name)
		r.mu.Lock()
		dead := r.dead(name, info, last, now)
		r.mu.Unlock()
		if len(dead) > 0 {
			r.expel(ctx, name, dead)
		}
	}
}

// dead updates the watch of group from info and returns the members to
// remove, each with why.
func (r *groupReaper) dead(name string, info *kfake.GroupInfo, last, now time.Time) map[string]string {
	g := r.groups[name]
	if info == nil {
		delete(r.groups, name)
		return nil
	}
	if phase := fmt.Sprintf("%s/%d", info.State, info.Epoch); phase != g.phase {
		g.phase, g.phaseAt = phase, last
	}
	present := map[string]bool{}
	var joinLimit time.Duration
	for _, im := range info.Members {
		present[im.MemberID] = true
		joinLimit = max(joinLimit, r.member(name, im.MemberID, now).rebalance)
	}
	for id := range g.members {
		if !present[id] {
			delete(g.members, id)
		}
	}
	dead := map[string]string{}
	for id, m := range g.members {
		if m.session == 0 {
			continue // its timeouts are not known until it joins again
		}
		switch info.State {
		case "PreparingRebalance":
			if m.joined.Before(g.phaseAt) && now.Sub(g.phaseAt) > joinLimit {
				dead[id] = fmt.Sprintf("did not join the rebalance within its timeout of %s", joinLimit)
			}
		case "CompletingRebalance", "Stable":
			if now.Sub(m.seen) > m.session && now.Sub(g.phaseAt) > m.session {
				dead[id] = fmt.Sprintf("sent nothing for its session timeout of %s", m.session)
			}
		}
	}
	for id := range dead {
		delete(g.members, id)
	}
	return dead
}

// expel sends the LeaveGroup of the dead members of group. A member that
// was alive after all is told so on its next request and joins again.
func (r *groupReaper) expel(ctx context.Context, group string, dead map[string]string) {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = group
	for id, why := range dead {
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = id
		req.Members = append(req.Members, m)
		r.logger.Warn("kafka: removing a dead member from its consumer group", "group", group, "member", id, "reason", why)
	}
	resp, err := req.RequestWith(ctx, r.leaver)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil && ctx.Err() == nil {
		r.logger.Warn("kafka: could not remove dead members from their consumer group; "+
			"they are tried again when their timeout lapses once more", "group", group, "error", err)
	}
}
