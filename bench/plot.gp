# gnuplot script for bench/run.sh: gnuplot -e "dir='WORKDIR'; out='bench/results/STAMP'" bench/plot.gp
# Reads dir/scaling.dat (workers kept ephemeral), dir/depth.dat (depth p50 p99),
# dir/soak.dat (t jobs/s heapMB indexMB backlog); writes out-scaling.png, out-depth.png, out-soak.png.
set terminal pngcairo size 800,480 font ",10" noenhanced
set grid
set key top left

if (system("test -s ".dir."/scaling.dat && echo y") eq "y\n" || system("test -s ".dir."/scaling.dat && echo y") eq "y") {
  set output out.'-scaling.png'
  set title "taskmill process throughput, real Worker, no-op handlers"
  set xlabel "Workers (each: own dequeue and ack connections, concurrency 4, batch_size 100)"
  set ylabel "tasks/s"
  set xrange [0.5:8.5]
  set yrange [0:*]
  set xtics (1,2,4,8)
  set key bottom right
  plot dir.'/scaling.dat' using 1:2 with linespoints lw 2 pt 7 title "results kept", \
       ''                 using 1:3 with linespoints lw 2 pt 5 title "ephemeral"
}
if (system("test -s ".dir."/depth.dat && echo y") eq "y\n" || system("test -s ".dir."/depth.dat && echo y") eq "y") {
  set key top left
  set output out.'-depth.png'
  set title "taskmill.dequeue(q, 1) call time by queue depth"
  set xlabel "available tasks in the queue"
  set ylabel "ms per call"
  set logscale x
  set xrange [500:2000000]
  unset xtics
  set xtics ("1k" 1000, "10k" 10000, "100k" 100000, "1M" 1000000)
  set yrange [0:*]
  plot dir.'/depth.dat' using 1:2 with linespoints lw 2 pt 7 title "p50", \
       ''               using 1:3 with linespoints lw 2 pt 5 title "p99"
  unset logscale x
}
if (system("test -s ".dir."/soak.dat && echo y") eq "y\n" || system("test -s ".dir."/soak.dat && echo y") eq "y") {
  set key center right
  set output out.'-soak.png'
  set title "taskmill soak: throughput and taskmill.tasks size"
  set xlabel "seconds"
  set ylabel "tasks/s"
  set y2label "MB"
  set y2tics
  set ytics nomirror
  set xrange [*:*]
  unset xtics
  set xtics
  set yrange [0:*]
  set y2range [0:*]
  plot dir.'/soak.dat' using 1:2 with linespoints lw 2 pt 7 title "processed tasks/s", \
       ''              using 1:3 axes x1y2 with linespoints lw 2 pt 5 title "tasks heap MB", \
       ''              using 1:4 axes x1y2 with linespoints lw 2 pt 9 title "tasks indexes MB"
}
