# Run by pinpoint-supervisor as `hbase shell -n list-tables.rb`.
# Prints one "pinpoint-table:<name>" line per existing table. The prefix keeps the parse
# independent of the shell's own table/timing output. A master that is not ready yet
# (PleaseHoldException, connection refused) makes `list` raise; with -n the shell then exits
# non-zero and the supervisor retries: that is how it waits until the master serves DDL.
list.each { |table| puts "pinpoint-table:#{table}" }
exit 0
