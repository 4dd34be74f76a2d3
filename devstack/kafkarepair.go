package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// forgottenDir is where setAsideForgottenPartitions moves what it finds,
// under the broker's data directory.
const forgottenDir = "forgotten"

// setAsideForgottenPartitions moves out of the broker's way the partition
// directories of topics that its topic list does not name. Before Courier
// created topics durably (createRequestedTopics), a broker killed with
// kill -9 forgot every topic created on first use, yet kept its segment
// files: on its next use the topic was created again at offset 0 and kfake
// appended to the old files, so that two records claimed one offset and
// consumers stuck on the partition. Such a data directory is repaired at
// start: the forgotten records are moved to dataDir/forgotten (nothing is
// deleted), the topic starts clean, and Courier publishes every message not
// yet completed again on its resend schedule.
//
// The topic list is kfake's topics.json; one that cannot be read leaves
// everything where it is.
func setAsideForgottenPartitions(dataDir string, logger *slog.Logger) error {
	partitions := filepath.Join(dataDir, "partitions")
	entries, err := os.ReadDir(partitions)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read kafka partitions: %w", err)
	}
	known, err := knownTopics(dataDir)
	if err != nil {
		logger.Warn("kafka: cannot read the topic list; partitions of forgotten topics are left in place", "error", err)
		return nil
	}
	for _, e := range entries {
		topic, ok := partitionTopic(e.Name())
		if !e.IsDir() || !ok || known[topic] {
			continue
		}
		from := filepath.Join(partitions, e.Name())
		to, err := freeName(filepath.Join(dataDir, forgottenDir, e.Name()))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return fmt.Errorf("set aside %s: %w", from, err)
		}
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("set aside %s: %w", from, err)
		}
		logger.Warn("kafka: moved the records of a topic the broker had forgotten in a crash out of its way; "+
			"Courier publishes every message not yet completed again on its resend schedule",
			"topic", topic, "moved_to", to)
	}
	return nil
}

// knownTopics reads the topic names of kfake's topics.json; a missing file
// names none.
func knownTopics(dataDir string) (map[string]bool, error) {
	known := map[string]bool{}
	b, err := os.ReadFile(filepath.Join(dataDir, "topics.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return known, nil
	}
	if err != nil {
		return nil, err
	}
	var list struct {
		Topics []struct {
			Name string `json:"name"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("topics.json: %w", err)
	}
	for _, t := range list.Topics {
		known[t.Name] = true
	}
	return known, nil
}

// partitionTopic is the topic of a kfake partition directory, named
// <path-escaped topic>-<partition>.
func partitionTopic(dir string) (string, bool) {
	i := strings.LastIndexByte(dir, '-')
	if i <= 0 {
		return "", false
	}
	if _, err := strconv.ParseUint(dir[i+1:], 10, 31); err != nil {
		return "", false
	}
	topic, err := url.PathUnescape(dir[:i])
	return topic, err == nil
}

// freeName is path, or path.1, path.2, … whichever does not exist yet.
func freeName(path string) (string, error) {
	for i := 0; ; i++ {
		p := path
		if i > 0 {
			p = path + "." + strconv.Itoa(i)
		}
		_, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", fmt.Errorf("set aside %s: %w", path, err)
		}
	}
}
