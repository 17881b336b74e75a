package processor

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// leaveGroup leaves the group within cctx. A session torn down because the
// brokers went away (a restart, an outage) cannot leave at once; its member
// would stay in the group until its session timed out (45s), and the next
// session's join would wait for it all that time, counted from the
// coordinator's return, since a restarted coordinator reloads its members.
// So while Run goes on (ctx live), the leave is retried with backoff until
// the coordinator answers (whatever it answers) or ctx ends: waiting here is
// waiting for the brokers, which the next session needs anyway.
//
// The retry sends LeaveGroup itself: after one failed LeaveGroupContext the
// client has forgotten its member id, and kadm's LeaveGroup is for static
// members (instance ids) only.
func leaveGroup(ctx, cctx context.Context, cl *kgo.Client, group string, log *zap.Logger) {
	memberID, _ := cl.GroupMetadata()
	err := cl.LeaveGroupContext(cctx)
	if err == nil || memberID == "" || ctx.Err() != nil {
		if err != nil {
			log.Warn("leave group", zap.Error(err))
		}
		return
	}
	log.Warn("leave group failed; retrying until the coordinator answers", zap.String("member", memberID), zap.Error(err))
	backoff := 250 * time.Millisecond
	for {
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Group = group
		req.MemberID = memberID
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = memberID
		req.Members = append(req.Members, m)
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			// The coordinator answered: the member left, or the
			// group forgot it already, or an answer no retry changes.
			err = kerr.ErrorForCode(resp.ErrorCode)
			for _, m := range resp.Members {
				err = errors.Join(err, kerr.ErrorForCode(m.ErrorCode))
			}
			if err != nil && !errors.Is(err, kerr.UnknownMemberID) {
				log.Warn("leave group", zap.String("member", memberID), zap.Error(err))
				return
			}
			log.Info("left the group", zap.String("member", memberID))
			return
		}
		select {
		case <-ctx.Done():
			log.Warn("leave group", zap.Error(err))
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
