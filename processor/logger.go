package processor

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// kzapLogger adapts zap to franz-go's logger. The client's info level is
// chatty, so it is logged at debug; warnings and errors keep their level.
type kzapLogger struct{ l *zap.Logger }

func (k kzapLogger) Level() kgo.LogLevel {
	if k.l.Core().Enabled(zapcore.DebugLevel) {
		return kgo.LogLevelDebug
	}
	return kgo.LogLevelWarn
}

func (k kzapLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	fields := make([]zap.Field, 0, len(keyvals)/2)
	for i := 0; i+1 < len(keyvals); i += 2 {
		key, _ := keyvals[i].(string)
		fields = append(fields, zap.Any(key, keyvals[i+1]))
	}
	l := k.l.With(zap.String("component", "kgo"))
	switch level {
	case kgo.LogLevelError:
		l.Error(msg, fields...)
	case kgo.LogLevelWarn:
		l.Warn(msg, fields...)
	default:
		l.Debug(msg, fields...)
	}
}
