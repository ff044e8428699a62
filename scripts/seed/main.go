// Command seed fills an rffmpeg database with a demo state for screenshots:
// four hosts that differ in hardware, capacity and tags (one bad with a
// long reason, one draining), jobs running on them and on the fallback, a
// call waiting for a full host, an hour of finished jobs in the history,
// an hour of health checks and a day of bad marks, and a log. The running jobs, the bad mark and the waiting call belong to
// live holder processes (-pids), so the console does not reap them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// holders is how many live processes the demo needs: six running jobs,
// the bad mark and the waiting call.
const holders = 8

// badReason is the bad host's reason, long enough to need the detail. It
// begins as the shim's classified reasons do, so its class shows.
const badReason = "connection refused: ssh: connect to host 192.168.1.22 port 22: Connection refused (exit 255); the check gave up after 2 attempts 1 s apart"

type demoHost struct {
	host, name string
	weight     int
	props      state.HostProps
	caps       []string
	drain      bool
}

func ptr[T any](v T) *T { return &v }

var hosts = []demoHost{
	{"192.168.1.20", "gpu-nvenc", 3, state.HostProps{MaxJobs: ptr(4), Tags: ptr([]string{"nvenc", "transcode"})},
		[]string{"cuda", "vulkan", "dec:h264_cuvid", "dec:hevc_cuvid", "enc:av1_nvenc", "enc:h264_nvenc", "enc:hevc_nvenc", "filter:scale_cuda", "filter:tonemap_cuda"}, false},
	{"192.168.1.21", "quicksync", 1, state.HostProps{MaxJobs: ptr(2), Tags: ptr([]string{"qsv"})},
		[]string{"qsv", "vaapi", "enc:h264_qsv", "enc:hevc_qsv", "enc:h264_vaapi", "filter:scale_qsv", "filter:scale_vaapi"}, false},
	{"192.168.1.22", "old-i5", 1, state.HostProps{MaxJobs: ptr(1), Tags: ptr([]string{"cpu-only"})}, []string{}, false},
	{"192.168.1.30", "nas-arm", 1, state.HostProps{MaxJobs: ptr(2), Priority: ptr(1), Tags: ptr([]string{"probe", "image"})},
		[]string{"enc:h264_v4l2m2m"}, true},
}

func main() {
	db := flag.String("db", "", "SQLite database (initialized)")
	pidList := flag.String("pids", "", fmt.Sprintf("live processes owning the demo's rows, comma-separated (%d)", holders))
	logPath := flag.String("log", "", "log file to write")
	flag.Parse()
	ctx := context.Background()
	s, err := state.Open(ctx, state.Options{Backend: "sqlite", Path: *db})
	must(err)
	defer s.Close()
	now := time.Now()
	pids, who := holderIDs(*pidList)
	for _, h := range hosts {
		added, err := s.AddHostWith(ctx, h.host, h.name, h.weight, h.props, now.Add(-72*time.Hour))
		must(err)
		_, err = s.SetCapabilities(ctx, added.Key(), h.caps, now.Add(-41*time.Minute))
		must(err)
		if h.drain {
			_, err = s.SetDrainByKey(ctx, added.Key(), true)
			must(err)
		}
	}
	history(ctx, s, now)
	health(ctx, s, now)
	running(ctx, s, now, pids, who)
	must(s.MarkBad(ctx, 3, state.Claim{PID: pids[6], Owner: who[6], Now: now.Add(-17 * time.Second)}, badReason))
	wait := state.Claim{PID: pids[7], Owner: who[7], Now: now.Add(-6 * time.Second),
		Cmd: "ffmpeg -init_hw_device qsv=hw -i /media/shows/Spring/Spring.mkv -vf scale_qsv=w=1920:h=1080 -c:v hevc_qsv -f hls /var/cache/jellyfin/transcodes/77aa.m3u8"}
	_, _, _, err = s.Acquire(ctx, state.AcquireRequest{Claim: wait, Class: "transcode", Needs: []string{"enc:hevc_qsv", "qsv"}},
		func(state.Snapshot) state.Decision { return state.Decision{Wait: true} })
	must(err)
	if *logPath != "" {
		writeLog(*logPath, now, pids)
	}
	fmt.Println("seeded", *db)
}

// holderIDs reads the holder PIDs and their owner identities.
func holderIDs(list string) ([]int, []string) {
	self := owner.Self()
	var pids []int
	var who []string
	for _, f := range strings.Split(list, ",") {
		pid, err := strconv.Atoi(f)
		must(err)
		start, err := owner.StartTime(pid)
		must(err)
		pids = append(pids, pid)
		who = append(who, owner.Identity{Machine: self.Machine, Boot: self.Boot, PID: pid, Start: start}.String())
	}
	if len(pids) < holders {
		must(fmt.Errorf("need %d pids, got %d", holders, len(pids)))
	}
	return pids, who
}

// running starts the six jobs running now: three on gpu-nvenc, two on
// quicksync (full), one on the fallback.
func running(ctx context.Context, s *state.Store, now time.Time, pids []int, who []string) {
	jobs := []struct {
		host int64
		cmd  string
		ago  time.Duration
	}{
		{1, "ffmpeg -analyzeduration 200M -init_hw_device cuda=cu:0 -hwaccel cuda -i /media/films/Big Buck Bunny (2008)/Big Buck Bunny.mkv -map 0:0 -map 0:1 -c:v h264_nvenc -preset p4 -b:v 8M -c:a aac -f hls -hls_time 3 /var/cache/jellyfin/transcodes/9e1c.m3u8", 14*time.Minute + 3*time.Second},
		{1, "ffmpeg -ss 00:41:10 -hwaccel cuda -i /media/films/Tears of Steel (2012)/Tears of Steel.mkv -vf tonemap_cuda=format=nv12 -c:v hevc_nvenc -b:v 6M -f hls /var/cache/jellyfin/transcodes/51af.m3u8", 3*time.Minute + 40*time.Second},
		{1, "ffprobe -v warning -print_format json -show_streams -show_chapters -show_format /media/shows/Sintel/Season 01/Sintel S01E03.mkv", 1 * time.Second},
		{2, "ffmpeg -init_hw_device qsv=hw -i /media/shows/Cosmos Laundromat/Cosmos Laundromat.mkv -vf scale_qsv=w=1280:h=720 -c:v h264_qsv -f hls /var/cache/jellyfin/transcodes/c0de.m3u8", 52 * time.Second},
		{2, "ffmpeg -init_hw_device vaapi=va:/dev/dri/renderD128 -i /media/films/Elephants Dream/Elephants Dream.mkv -vf scale_vaapi=w=1920:h=1080 -c:v h264_vaapi -f hls /var/cache/jellyfin/transcodes/e1e1.m3u8", 7*time.Minute + 12*time.Second},
		{0, "ffmpeg -i /media/music/Live at the Roxy/01 - Overture.flac -vn -c:a libmp3lame -b:a 192k -f mp3 pipe:1", 9 * time.Second},
	}
	for i, j := range jobs {
		id := j.host
		claim := state.Claim{PID: pids[i], Owner: who[i], Cmd: j.cmd, Now: now.Add(-j.ago)}
		_, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, func(state.Snapshot) state.Decision { return state.Decision{HostID: id} })
		must(err)
	}
}

// history records an hour of finished jobs, in the order they ended, as
// the shim does: transcodes and trickplay on the GPU hosts, probes and
// images everywhere, old-i5's refused connections, an ffmpeg error and a
// job an admin killed.
func history(ctx context.Context, s *state.Store, now time.Time) {
	type job struct {
		host          int64
		class         string
		startMin, dur float64 // minutes ago, minutes
		exit          int
		failure       string
		cmd           string
	}
	var jobs []job
	films := []string{"Sintel", "Spring", "Agent 327", "Caminandes", "Coffee Run", "Glass Half", "Hero", "Sprite Fright"}
	for i := range 22 {
		if i >= 8 && i <= 12 {
			continue // a quiet half hour: the load sparkline shows it
		}
		m := 58 - float64(i)*2.6
		film := films[i%len(films)]
		host := int64(1 + i%2)
		enc := []string{"h264_nvenc", "h264_qsv"}[i%2]
		jobs = append(jobs, job{host, "transcode", m, 6 + float64(i%5)*2.5, 0, "", "ffmpeg -i /media/films/" + film + ".mkv -c:v " + enc + " -f hls /var/cache/jellyfin/transcodes/" + strconv.Itoa(1000+i) + ".m3u8"})
		jobs = append(jobs, job{host, "probe", m + 0.2, 0.01, 0, "", "ffprobe -v warning -print_format json -show_streams -show_format /media/films/" + film + ".mkv"})
		if i%4 == 0 {
			jobs = append(jobs, job{1, "trickplay", m - 1, 3.5, 0, "", "ffmpeg -i /media/films/" + film + ".mkv -vf fps=1/10,scale=320:-1 -f image2 /var/cache/jellyfin/trickplay/" + strconv.Itoa(i) + "/%d.jpg"})
		}
		if i%3 == 0 {
			jobs = append(jobs, job{4, "image", m + 0.5, 0.05, 0, "", "ffmpeg -ss 00:05:00 -i /media/films/" + film + ".mkv -frames:v 1 -f image2 /var/cache/jellyfin/" + strconv.Itoa(i) + ".jpg"})
		}
	}
	jobs = append(jobs,
		job{1, "transcode", 33, 4.2, 255, state.FailKilled, "ffmpeg -i /media/films/Cosmos Laundromat.mkv -c:v hevc_nvenc -f hls /var/cache/jellyfin/transcodes/k1.m3u8"},
		job{2, "image", 21, 0.03, 1, state.FailFFmpeg, "ffmpeg -ss 00:05:00 -i /media/films/Damaged Rip.avi -frames:v 1 -f image2 /var/cache/jellyfin/e1.jpg"},
		job{3, "transcode", 12, 0.02, 255, state.FailConnect, "ffmpeg -i /media/shows/Sintel/Sintel S01E02.mkv -c:v libx264 -f hls /var/cache/jellyfin/transcodes/f1.m3u8"},
		job{3, "probe", 0.3, 0.02, 255, state.FailConnect, "ffprobe -v warning -print_format json -show_streams /media/shows/Sintel/Season 01/Sintel S01E02.mkv"},
		job{0, "subtitle", 5, 0.1, 0, "", "ffmpeg -i /media/shows/Sintel/Sintel S01E01.mkv -map 0:s:0 -f webvtt pipe:1"},
	)
	names := map[int64][2]string{0: {"localhost", "localhost"}}
	for i, h := range hosts {
		names[int64(i+1)] = [2]string{h.name, h.host}
	}
	end := func(j job) float64 { return j.startMin - j.dur }
	for done := false; !done; {
		done = true
		for i := 1; i < len(jobs); i++ {
			if end(jobs[i]) > end(jobs[i-1]) {
				jobs[i], jobs[i-1], done = jobs[i-1], jobs[i], false
			}
		}
	}
	for i, j := range jobs {
		if end(j) < 0 {
			continue // still running: not in the history yet
		}
		r := state.JobRecord{HostID: j.host, Servername: names[j.host][0], Hostname: names[j.host][1], Frontend: "jellyfin",
			Class: j.class, Command: j.cmd, PID: 20000 + i*7, Started: now.Add(-time.Duration(j.startMin * float64(time.Minute))),
			Duration: time.Duration(j.dur * float64(time.Minute)), ExitCode: j.exit, Failure: j.failure}
		if j.failure == state.FailKilled {
			r.KilledBy = "admin (uid 1000) via rffmpeg kill"
		}
		must(s.RecordJob(ctx, r))
	}
}

// health records what the shims' checks saw: every host checked every
// few minutes over the last hour, each at its own latency (the NAS is
// slow to answer); old-i5 timed out once 24 minutes ago and was marked
// bad, answered again, and has refused connections for the last few
// seconds (its current mark is written by main); earlier marks of the day on it. The
// past marks' rows are cleared as the marks expired: only their history
// stays.
func health(ctx context.Context, s *state.Store, now time.Time) {
	const frontend = "jellyfin|demo-boot|1"
	base := []time.Duration{190 * time.Millisecond, 240 * time.Millisecond, 330 * time.Millisecond, 620 * time.Millisecond}
	timedOut := "timed out after 1s (host frozen or unreachable)"
	for id := int64(1); id <= int64(len(hosts)); id++ {
		step := time.Duration(60+15*id) * time.Second
		start, end := now.Add(-59*time.Minute+time.Duration(id)*40*time.Second), now.Add(-90*time.Second)
		for i, at := 0, start; at.Before(end); i, at = i+1, at.Add(step) {
			// A latency that wanders as a real one does: the host's own
			// base, plus up to 60% depending on the minute.
			jitter := time.Duration((i*7+int(id)*11)%13) * base[id-1] / 20
			c := state.CheckResult{HostID: id, At: at, Latency: base[id-1] + jitter, OK: true, Owner: frontend, PID: 30000 + i*13 + int(id)}
			if id == 3 && at.After(now.Add(-26*time.Minute)) && at.Before(now.Add(-22*time.Minute)) {
				c.OK, c.Latency, c.Reason = false, time.Second, timedOut
			}
			must(s.RecordCheck(ctx, c))
		}
	}
	marks := []struct {
		ago    time.Duration
		reason string
	}{
		{21*time.Hour + 12*time.Minute, "unreachable: no route to host 192.168.1.22"},
		{9*time.Hour + 3*time.Minute, "authentication failed (permission denied)"},
		{24*time.Minute + 10*time.Second, timedOut},
	}
	for i, m := range marks {
		must(s.MarkBad(ctx, 3, state.Claim{PID: 30500 + i*211, Owner: frontend, Now: now.Add(-m.ago)}, m.reason))
	}
	_, err := s.ClearByKey(ctx, state.HostKey{ID: 3, Servername: hosts[2].name}, true)
	must(err)
	// The check that found it refusing, just before main marks it.
	must(s.RecordCheck(ctx, state.CheckResult{HostID: 3, At: now.Add(-18 * time.Second), Latency: 4 * time.Millisecond, Reason: badReason, Owner: frontend, PID: 30999}))
}

func writeLog(path string, now time.Time, pids []int) {
	var lines []string
	at := now.Add(-20 * time.Second)
	add := func(d time.Duration, pid int, level, msg string) {
		t := at.Add(d)
		lines = append(lines, fmt.Sprintf("%s,%03d - rffmpeg[%d] - %s - %s", t.Format("2006-01-02 15:04:05"), t.Nanosecond()/1e6, pid, level, msg))
	}
	add(0, pids[6], "INFO", "Starting rffmpeg as ffprobe with args: -v warning -print_format json -show_streams /media/shows/Sintel/Season 01/Sintel S01E02.mkv")
	add(3*time.Millisecond, pids[6], "DEBUG", "Chose host '192.168.1.22' (old-i5, id 3): idle (0 running, weight 1)")
	add(1004*time.Millisecond, pids[6], "ERROR", "Marking host 192.168.1.22 (old-i5) as bad due to retcode 255: connection refused")
	add(1006*time.Millisecond, pids[6], "DEBUG", "Chose host '192.168.1.20' (gpu-nvenc, id 1): least busy (processes // weight) (2 running, weight 3)")
	add(1007*time.Millisecond, pids[6], "INFO", "Running command on host '192.168.1.20' (gpu-nvenc)")
	add(1090*time.Millisecond, pids[6], "INFO", "Finished rffmpeg with return code 0")
	add(11*time.Second, pids[5], "INFO", "Starting rffmpeg as ffmpeg with args: -i /media/music/Live at the Roxy/01 - Overture.flac -vn -c:a libmp3lame -b:a 192k -f mp3 pipe:1")
	add(11*time.Second+2*time.Millisecond, pids[5], "DEBUG", "Chose localhost (fallback): class rule: local")
	add(11*time.Second+3*time.Millisecond, pids[5], "INFO", "Running command on host 'localhost' (localhost)")
	add(14*time.Second, pids[7], "INFO", "Starting rffmpeg as ffmpeg with args: -init_hw_device qsv=hw -i /media/shows/Spring/Spring.mkv -vf scale_qsv=w=1920:h=1080 -c:v hevc_qsv -f hls /var/cache/jellyfin/transcodes/77aa.m3u8")
	add(14*time.Second+2*time.Millisecond, pids[7], "INFO", "Waiting for capacity, at most 1m0s: every usable host is full: waiting in the queue")
	add(19*time.Second, pids[2], "INFO", "Starting rffmpeg as ffprobe with args: -v warning -print_format json -show_streams -show_chapters -show_format /media/shows/Sintel/Season 01/Sintel S01E03.mkv")
	add(19*time.Second+2*time.Millisecond, pids[2], "INFO", "Running command on host '192.168.1.20' (gpu-nvenc)")
	must(os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}
