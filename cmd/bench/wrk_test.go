package main

import "testing"

func TestParseWrk(t *testing.T) {
	out := `Running 3s test @ http://127.0.0.1:1/v1/auth
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   310.12us  400.01us  12.00ms   95.00%
    Req/Sec    50.10k     2.00k   55.00k    70.00%
  Latency Distribution
     50%  228.00us
     75%  300.00us
     90%  500.00us
     99%    2.80ms
  151234 requests in 3.00s, 13.27MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 12
Requests/sec:  50398.12
Transfer/sec:      4.42MB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 151234 || r.RPS != 50398.12 || r.Seconds != 3 || r.Latency.P50 != 0.228 || r.Latency.P99 != 2.8 ||
		r.Status["200"] != 151222 || r.Errors != 3 || r.ok() {
		t.Errorf("%+v", r)
	}
}
