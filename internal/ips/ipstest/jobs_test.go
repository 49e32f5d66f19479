package ipstest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

func window(from, to time.Time) string {
	return el("companyHandle", "c|6") + el("sortBy", "StartDate") + el("sortDirection", "Ascending") +
		el("startDate", from.Format(time.RFC3339Nano)) + el("endDate", to.Format(time.RFC3339Nano))
}

func newJobServer(t *testing.T, clock *fixedClock, assets, entries int) *ipstest.Server {
	t.Helper()
	s := ipstest.NewServer(ipstest.WithCatalog(assets, entries), ipstest.WithClock(clock.Now), ipstest.WithPrefix(ipstest.PrefixRotate))
	t.Cleanup(s.Close)
	return s
}

// TestJobsAgreeWithAssetLogs checks that every entry's job is listed by
// getJobLogs and that the job's details list the entry's asset, for base
// and added activity.
func TestJobsAgreeWithAssetLogs(t *testing.T) {
	clock := &fixedClock{epoch}
	s := newJobServer(t, clock, 230, 7)
	clock.Advance(time.Hour)
	s.AddActivity([]int{3, 150, 3}, 2)
	running := s.StartJob([]int{229}, 1)

	listed := map[string]job{}
	for _, j := range jobs(t, s.URL(), el("companyHandle", "c|6")) {
		listed[j.handle] = j
	}
	if got, want := len(listed), 3*4+2; got != want {
		t.Fatalf("getJobLogs listed %d jobs, want %d", got, want)
	}

	rowsOf := map[string][]string{}
	for h, j := range listed {
		rows, total := jobAssets(t, s.URL(), h, 97)
		if total != len(rows) || total != j.total {
			t.Errorf("job %s: %d rows, detailTotalRows %d, totalFileCount %d", h, len(rows), total, j.total)
		}
		rowsOf[h] = rows
	}

	perJob := map[string]map[string]int{}
	total := 0
	for _, e := range s.AllEntries() {
		total++
		j, ok := listed[e.JobHandle]
		if !ok {
			t.Fatalf("entry of asset %s names job %s, which getJobLogs does not list", e.AssetHandle, e.JobHandle)
		}
		start := mustTime(t, j.start)
		if e.LogDate.Before(start) {
			t.Errorf("entry %v before its job's start %v", e.LogDate, start)
		}
		if j.hasEnd && e.LogDate.After(mustTime(t, j.end)) {
			t.Errorf("entry %v after its job's end %s", e.LogDate, j.end)
		}
		if perJob[e.JobHandle] == nil {
			perJob[e.JobHandle] = map[string]int{}
		}
		perJob[e.JobHandle][e.AssetHandle]++
	}
	rows := 0
	for h, want := range perJob {
		got := map[string]int{}
		for _, a := range rowsOf[h] {
			got[a]++
		}
		rows += len(rowsOf[h])
		for a, n := range want {
			if got[a] != n {
				t.Errorf("job %s: details list asset %s %d times, want %d", h, a, got[a], n)
			}
		}
	}
	if rows != total {
		t.Errorf("details have %d rows in all, want one per entry (%d)", rows, total)
	}
	if listed[string(running)].hasEnd {
		t.Errorf("running job has an endDate")
	}
}

func TestJobLogsWindowAndNumRows(t *testing.T) {
	clock := &fixedClock{epoch}
	s := newJobServer(t, clock, 1000, 8) // 10 groups × 4 blocks = 40 base jobs
	all := jobs(t, s.URL(), window(time.Time{}.Add(time.Hour), epoch.Add(time.Hour)))
	if len(all) != 40 {
		t.Fatalf("got %d jobs, want 40", len(all))
	}
	for i := 1; i < len(all); i++ {
		if !mustTime(t, all[i-1].start).Before(mustTime(t, all[i].start)) {
			t.Fatalf("jobs not in ascending start order at %d", i)
		}
	}

	t.Run("window bounds are inclusive", func(t *testing.T) {
		from, to := mustTime(t, all[5].start), mustTime(t, all[9].start)
		got := jobs(t, s.URL(), window(from, to))
		if len(got) != 5 || got[0].handle != all[5].handle || got[4].handle != all[9].handle {
			t.Errorf("got %d jobs from %s, want jobs 5..9", len(got), got[0].handle)
		}
	})

	t.Run("numRows truncates in sort order", func(t *testing.T) {
		got := jobs(t, s.URL(), window(time.Unix(0, 0), epoch)+el("numRows", "7"))
		if len(got) != 7 || got[6].handle != all[6].handle {
			t.Errorf("got %d jobs, want the first 7", len(got))
		}
		desc := strings.Replace(window(time.Unix(0, 0), epoch), "Ascending", "Descending", 1) + el("numRows", "3")
		got = jobs(t, s.URL(), desc)
		if len(got) != 3 || got[0].handle != all[39].handle || got[2].handle != all[37].handle {
			t.Errorf("descending: got %v, want the last three, newest first", got)
		}
	})

	t.Run("recent window sees only added activity", func(t *testing.T) {
		clock.Advance(2 * time.Hour)
		done := s.AddActivity([]int{1, 2}, 1)
		clock.Advance(time.Second)
		running := s.StartJob([]int{5}, 2)
		got := jobs(t, s.URL(), window(epoch.Add(-29*24*time.Hour), clock.Now()))
		if len(got) != 2 || got[0].handle != string(done) || got[1].handle != string(running) {
			t.Fatalf("got %+v, want the two added jobs", got)
		}
		if !got[0].hasEnd || got[1].hasEnd {
			t.Errorf("endDate presence: ended %v, running %v; want true, false", got[0].hasEnd, got[1].hasEnd)
		}
		clock.Advance(time.Second)
		if err := s.EndJob(running); err != nil {
			t.Fatal(err)
		}
		got = jobs(t, s.URL(), window(epoch, clock.Now()))
		if !got[1].hasEnd || mustTime(t, got[1].end).Before(mustTime(t, got[1].start)) {
			t.Errorf("ended job: %+v", got[1])
		}
	})

	t.Run("bad parameters give 30001", func(t *testing.T) {
		for _, p := range []string{el("numRows", "0"), el("sortBy", "Size"), el("startDate", "yesterday")} {
			r := post(t, s.URL(), "getJobLogs", jobLogsRequest(p))
			if f := faultOf(t, r.body); f.code != 30001 {
				t.Errorf("%s: fault %+v, want 30001", p, f)
			}
		}
	})
}

func TestJobLogDetailsPaging(t *testing.T) {
	clock := &fixedClock{epoch}
	s := newJobServer(t, clock, 100, 40) // job 0: 100 assets × 10 entries
	first := jobs(t, s.URL(), el("numRows", "1"))[0]
	if first.total != 1000 {
		t.Fatalf("first job has %d rows, want 1000", first.total)
	}
	var pages [][]string
	for _, per := range []int{1000, 300, 7} {
		rows, total := jobAssets(t, s.URL(), first.handle, per)
		if total != 1000 || len(rows) != 1000 {
			t.Fatalf("recordsPerPage %d: %d rows of %d", per, len(rows), total)
		}
		pages = append(pages, rows)
	}
	if !slices.Equal(pages[0], pages[1]) || !slices.Equal(pages[0], pages[2]) {
		t.Errorf("paging with different page sizes gave different rows")
	}

	r := post(t, s.URL(), "getJobLogDetails", detailsRequest(first.handle, 5000, 1))
	items := jobItems(t, r.body, "getJobLogDetailsReturn")
	if n := len(items[0].one(v2014, "detailArray").all(v2014, "items")); n != 1000 {
		t.Errorf("recordsPerPage 5000 gave %d rows, want the maximum 1000", n)
	}
	r = post(t, s.URL(), "getJobLogDetails", detailsRequest(first.handle, 10, 101))
	if n := len(jobItems(t, r.body, "getJobLogDetailsReturn")[0].one(v2014, "detailArray").all(v2014, "items")); n != 0 {
		t.Errorf("page past the end has %d rows, want 0", n)
	}
	r = post(t, s.URL(), "getJobLogDetails", detailsRequest(first.handle, 10, 0))
	if f := faultOf(t, r.body); f.code != 30001 {
		t.Errorf("resultsPage 0: %+v, want 30001", f)
	}
	r = post(t, s.URL(), "getJobLogDetails", detailsRequest("j|6||nope|3", 10, 1))
	if f := faultOf(t, r.body); f.code != 30001 {
		t.Errorf("unknown job: %+v, want 30001", f)
	}

	filtered := envelope(authXML("api@example.com", passwd), "getJobLogDetails", v2014,
		el("companyHandle", "c|6")+el("jobHandle", first.handle)+"<logTypeArray>"+el("items", "UploadError")+"</logTypeArray>")
	r = post(t, s.URL(), "getJobLogDetails", filtered)
	it := jobItems(t, r.body, "getJobLogDetailsReturn")[0]
	for _, d := range it.one(v2014, "detailArray").all(v2014, "items") {
		if lt, _ := d.text(v2014, "logType"); lt != "UploadError" {
			t.Fatalf("logTypeArray filter let %s through", lt)
		}
	}
	if n, _ := it.text(v2014, "fileErrorCount"); n != "0" {
		if tot, _ := it.text(v2014, "detailTotalRows"); tot != n {
			t.Errorf("filtered detailTotalRows %s, want fileErrorCount %s", tot, n)
		}
	}
}

func TestActivity(t *testing.T) {
	clock := &fixedClock{epoch.Add(500 * time.Microsecond)}
	s := newJobServer(t, clock, 10, 3)

	job := s.AddActivity([]int{4, 4}, 2)
	es := s.Entries(4)
	if len(es) != 7 {
		t.Fatalf("asset 4 has %d entries, want 3 + 4", len(es))
	}
	for k, e := range es[3:] {
		want := epoch.Add(time.Duration(k) * time.Millisecond)
		if !e.LogDate.Equal(want) || e.JobHandle != string(job) {
			t.Errorf("added entry %d: logDate %v job %s, want %v %s", k, e.LogDate, e.JobHandle, want, job)
		}
		if !e.Created.Equal(clock.Now()) {
			t.Errorf("Created %v, want the clock's %v", e.Created, clock.Now())
		}
	}
	if got := s.TotalEntries(); got != 34 {
		t.Errorf("TotalEntries %d, want 34", got)
	}

	run := s.StartJob(nil, 0)
	if err := s.AppendToJob(run, []int{1}, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.EndJob(run); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendToJob(run, []int{1}, 1); !errors.Is(err, ipstest.ErrJobEnded) {
		t.Errorf("append to ended job: %v, want ErrJobEnded", err)
	}
	if err := s.EndJob("j|6||x|99"); !errors.Is(err, ipstest.ErrUnknownJob) {
		t.Errorf("end unknown job: %v, want ErrUnknownJob", err)
	}
	if got := s.Jobs(); len(got) != 2 || got[1] != run {
		t.Errorf("Jobs() = %v", got)
	}

	r := post(t, s.URL(), "getAssetJobLogs", assetLogsRequest("c|6", s.AssetHandle(4)))
	if got, want := flatItems(t, r.body, v2014), flatAll(s.Entries(4)); !slicesEqualFlat(got, want) {
		t.Errorf("served log differs from Entries")
	}
}

func slicesEqualFlat(a, b []flat) bool {
	return slices.EqualFunc(a, b, func(x, y flat) bool {
		return x.JobHandle == y.JobHandle && x.LogDate == y.LogDate && x.LogMessage == y.LogMessage &&
			x.LogType == y.LogType && slices.Equal(x.Aux, y.Aux)
	})
}

func TestStartActivity(t *testing.T) {
	s := ipstest.NewServer(ipstest.WithCatalog(50, 1))
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.StartActivity(ctx, 200)
	deadline := time.Now().Add(20 * time.Second)
	for s.TotalEntries() == 50 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.TotalEntries() == 50 {
		t.Fatalf("no activity was added")
	}
	cancel()
	s.Close() // waits for the generator to stop
	n := s.TotalEntries()
	if len(s.Jobs()) == 0 {
		t.Errorf("activity created no jobs")
	}
	if s.TotalEntries() != n {
		t.Errorf("activity continued after Close")
	}
}

func TestCallCounters(t *testing.T) {
	s := referenceServer(t)
	post(t, s.URL(), "", assetLogsRequest("c|6", "a|732|1|1"))
	post(t, s.URL(), "", assetLogsRequest("c|6", "a|732|1|2"))
	post(t, s.URL(), "", jobLogsRequest(el("numRows", "1")))
	post(t, s.URL(), "", "not xml")
	if got := s.Calls(ipstest.OpGetAssetJobLogs); got != 2 {
		t.Errorf("getAssetJobLogs calls %d, want 2", got)
	}
	if got := s.Calls(ipstest.OpGetJobLogs); got != 1 {
		t.Errorf("getJobLogs calls %d, want 1", got)
	}
	if got := s.Calls(""); got != 1 {
		t.Errorf("unreadable calls %d, want 1", got)
	}
	if got := s.TotalCalls(); got != 4 {
		t.Errorf("total %d, want 4", got)
	}
	s.ResetCalls()
	if s.TotalCalls() != 0 || s.Calls(ipstest.OpGetAssetJobLogs) != 0 {
		t.Errorf("ResetCalls left counts")
	}
}

// TestConcurrentUse exercises activity, faults and calls at once; run it
// with -race.
func TestConcurrentUse(t *testing.T) {
	s := ipstest.NewServer(ipstest.WithCatalog(20, 2), ipstest.WithPrefix(ipstest.PrefixRotate))
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.StartActivity(ctx, 100)
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 20 {
				switch (w + i) % 4 {
				case 0:
					s.AddActivity([]int{i % 20}, 1)
				case 1:
					s.Inject(ipstest.Fault{Kind: ipstest.FaultLatency, Delay: time.Microsecond, Times: 1})
				case 2:
					post(t, s.URL(), "", jobLogsRequest(""))
				case 3:
					post(t, s.URL(), "", assetLogsRequest("c|6", s.AssetHandle(i%20)))
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	if got := s.Calls(ipstest.OpGetJobLogs) + s.Calls(ipstest.OpGetAssetJobLogs); got != 40 {
		t.Errorf("counted %d calls, want 40", got)
	}
}
