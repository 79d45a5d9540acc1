package loadgen

// The targets of a run of many (Config.Targets) are chosen by sequence
// number alone: request n goes to schedule[n % len(schedule)]. A function
// of n, not of who sends it, is what lets shards of one schedule
// (Config.Shard) send each request to the target one engine would, and
// lets a failure record say which target a request had without asking.

// gcdOf is the greatest common divisor of ws (all positive).
func gcdOf(ws []int) int {
	g := 0
	for _, w := range ws {
		a, b := g, w
		for b != 0 {
			a, b = b, a%b
		}
		g = a
	}
	return max(g, 1)
}

// scheduleLen is the length of weightedSchedule(ws): one cycle of the
// weights reduced by their greatest common divisor.
func scheduleLen(ws []int) int {
	g, n := gcdOf(ws), 0
	for _, w := range ws {
		n += w / g
	}
	return n
}

// weightedSchedule is one cycle of smooth weighted round-robin over
// targets of weights ws (nginx's rule): each target appears in proportion
// to its weight, spread as evenly as the weights allow (3:1:1 is
// 0 1 0 2 0, not 0 0 0 1 2), so that a short run, or any window of a long
// one, carries every target in about its share.
func weightedSchedule(ws []int) []uint32 {
	g := gcdOf(ws)
	w := make([]int, len(ws))
	total := 0
	for i, x := range ws {
		w[i] = x / g
		total += w[i]
	}
	cur := make([]int, len(w))
	out := make([]uint32, 0, total)
	for range total {
		best := 0
		for i := range w {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out = append(out, uint32(best))
	}
	return out
}
