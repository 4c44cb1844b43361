# Run by pinpoint-supervisor as `hbase shell -n flush-all.rb` on shutdown, BEFORE the
# cluster is asked to stop (`hbase master stop --shutDownCluster`): every memstore is written
# to HFiles while the master is healthy, so the data is safe even if the shutdown that follows
# has to be cut short.
list.each do |table|
  flush table
  puts "pinpoint-flushed:#{table}"
end
exit 0
