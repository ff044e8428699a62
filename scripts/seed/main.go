// Command seed fills an rffmpeg database with a demo state for screenshots:
// three hosts (one bad), jobs of a few ages, and a log. The jobs belong to a
// live holder process (-pid), so the console does not reap them as dead.
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

func main() {
	db := flag.String("db", "", "SQLite database (initialized)")
	pidList := flag.String("pids", "", "live processes owning the demo jobs and the bad mark, comma-separated (6)")
	logPath := flag.String("log", "", "log file to write")
	flag.Parse()
	ctx := context.Background()
	s, err := state.Open(ctx, state.Options{Backend: "sqlite", Path: *db})
	must(err)
	defer s.Close()
	now := time.Now()
	self := owner.Self()
	var pids []int
	var who []string
	for _, f := range strings.Split(*pidList, ",") {
		pid, err := strconv.Atoi(f)
		must(err)
		start, err := owner.StartTime(pid)
		must(err)
		pids = append(pids, pid)
		who = append(who, owner.Identity{Machine: self.Machine, Boot: self.Boot, PID: pid, Start: start}.String())
	}
	if len(pids) < 6 {
		must(fmt.Errorf("need 6 pids, got %d", len(pids)))
	}
	for _, h := range []struct {
		host, name string
		w          int
	}{{"192.168.1.20", "gpu-nvenc", 3}, {"192.168.1.21", "quicksync", 1}, {"192.168.1.22", "old-i5", 1}} {
		_, err := s.AddHost(ctx, h.host, h.name, h.w, now.Add(-72*time.Hour))
		must(err)
	}
	jobs := []struct {
		host int64
		cmd  string
		ago  time.Duration
	}{
		{1, "ffmpeg -analyzeduration 200M -i /media/films/Big Buck Bunny (2008)/Big Buck Bunny.mkv -map 0:0 -map 0:1 -c:v h264_nvenc -preset p4 -b:v 8M -c:a aac -f hls -hls_time 3 /var/cache/jellyfin/transcodes/9e1c.m3u8", 14*time.Minute + 3*time.Second},
		{1, "ffmpeg -ss 00:41:10 -i /media/films/Tears of Steel (2012)/Tears of Steel.mkv -c:v h264_nvenc -b:v 6M -f hls /var/cache/jellyfin/transcodes/51af.m3u8", 3*time.Minute + 40*time.Second},
		{1, "ffprobe -v warning -print_format json -show_streams -show_chapters -show_format /media/shows/Sintel/Season 01/Sintel S01E03.mkv", 1 * time.Second},
		{2, "ffmpeg -i /media/shows/Cosmos Laundromat/Cosmos Laundromat.mkv -vf scale_qsv=w=1280:h=720 -c:v h264_qsv -f hls /var/cache/jellyfin/transcodes/c0de.m3u8", 52 * time.Second},
		{0, "ffmpeg -i /media/music/Live at the Roxy/01 - Overture.flac -vn -c:a libmp3lame -b:a 192k -f mp3 pipe:1", 9 * time.Second},
	}
	for i, j := range jobs {
		id := j.host
		claim := state.Claim{PID: pids[i], Owner: who[i], Cmd: j.cmd, Now: now.Add(-j.ago)}
		_, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, func(state.Snapshot) state.Decision { return state.Decision{HostID: id} })
		must(err)
	}
	must(s.MarkBad(ctx, 3, state.Claim{PID: pids[5], Owner: who[5], Now: now.Add(-17 * time.Second)}, "connection refused"))
	if *logPath != "" {
		var lines []string
		at := now.Add(-20 * time.Second)
		add := func(d time.Duration, pid int, level, msg string) {
			t := at.Add(d)
			lines = append(lines, fmt.Sprintf("%s,%03d - rffmpeg[%d] - %s - %s", t.Format("2006-01-02 15:04:05"), t.Nanosecond()/1e6, pid, level, msg))
		}
		add(0, pids[5], "INFO", "Starting rffmpeg as ffprobe with args: -v warning -print_format json -show_streams /media/shows/Sintel/Season 01/Sintel S01E02.mkv")
		add(3*time.Millisecond, pids[5], "DEBUG", "Chose host '192.168.1.22' (old-i5, id 3): idle (0 running, weight 1)")
		add(1004*time.Millisecond, pids[5], "ERROR", "Marking host 192.168.1.22 (old-i5) as bad due to retcode 255: connection refused")
		add(1006*time.Millisecond, pids[5], "DEBUG", "Chose host '192.168.1.21' (quicksync, id 2): least busy (processes // weight) (1 running, weight 1)")
		add(1007*time.Millisecond, pids[5], "INFO", "Running command on host '192.168.1.21' (quicksync)")
		add(1090*time.Millisecond, pids[5], "INFO", "Finished rffmpeg with return code 0")
		add(11*time.Second, pids[4], "INFO", "Starting rffmpeg as ffmpeg with args: -i /media/music/Live at the Roxy/01 - Overture.flac -vn -c:a libmp3lame -b:a 192k -f mp3 pipe:1")
		add(11*time.Second+2*time.Millisecond, pids[4], "DEBUG", "Chose localhost (fallback): no usable host: local fallback")
		add(11*time.Second+3*time.Millisecond, pids[4], "INFO", "Running command on host 'localhost' (localhost)")
		add(19*time.Second, pids[2], "INFO", "Starting rffmpeg as ffprobe with args: -v warning -print_format json -show_streams -show_chapters -show_format /media/shows/Sintel/Season 01/Sintel S01E03.mkv")
		add(19*time.Second+2*time.Millisecond, pids[2], "INFO", "Running command on host '192.168.1.20' (gpu-nvenc)")
		must(os.WriteFile(*logPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	}
	fmt.Println("seeded", *db)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}
