# Run by pinpoint-supervisor at every start as ONE non-interactive shell:
#   PINPOINT_TABLES_DDL=<rendered create statements> PINPOINT_MASTER_WAIT_SECONDS=<n> \
#     hbase shell -Dhbase.client.retries.number=3 -n bootstrap-tables.rb
# (one JRuby start instead of one per poll: each costs seconds).
#
# 1. Wait until the master is INITIALIZED. `list_namespace` calls Admin#listNamespaces, which
#    the master serves through HMaster#listNamespaces -> checkInitialized(): PleaseHoldException
#    until initialization is complete, exactly like `create` (HMaster#createTable). `list` is
#    not enough: MasterRpcServices#getTableNames only checks that the RPC services started, so
#    it answers while DDL would still be refused (HBase 2.6 HMaster.java, MasterRpcServices.java).
#    Few client retries keep each attempt short; this loop decides how long to wait.
# 2. List the tables and run, one at a time, the `create` statement of each missing table: a
#    restart on existing data creates nothing, a partial schema is completed.
# Lines for the supervisor's log start with "pinpoint-bootstrap:"; the latest one is also
# written to PINPOINT_BOOTSTRAP_STATUS_FILE (when set), which the supervisor reads as the reason
# of a failed attempt. Exit 0 when every table exists; non-zero otherwise (the supervisor
# retries while its boot budget lasts).
# The shell reaches the HBase its configuration names: hbase-site.xml, or the -D overrides the
# supervisor passes for an external HBase (hbase.zookeeper.quorum, zookeeper.znode.parent).
ddl_file = ENV.fetch('PINPOINT_TABLES_DDL')
deadline = Time.now + Integer(ENV.fetch('PINPOINT_MASTER_WAIT_SECONDS'))
poll_seconds = Float(ENV.fetch('PINPOINT_HBASE_POLL_SECONDS', '2'))
status_file = ENV['PINPOINT_BOOTSTRAP_STATUS_FILE']
statements = File.readlines(ddl_file).map(&:strip).select { |line| line.start_with?("create '") }

# The status file is replaced by a rename, never rewritten in place: File.write truncates first,
# and the supervisor's deadline kill landing between truncate and write left it empty.
report = lambda do |line|
  puts "pinpoint-bootstrap:#{line}"
  next unless status_file

  File.write("#{status_file}.tmp", line)
  File.rename("#{status_file}.tmp", status_file)
end

attempt = 0
loop do
  attempt += 1
  begin
    list_namespace
    break
  rescue StandardError, java.lang.Exception => e
    reason = "#{e.class}: #{e.message.to_s.lines.first.to_s.strip}"
    if Time.now >= deadline
      report.call("timeout master not initialized: #{reason}")
      exit 3
    end
    report.call("waiting attempt #{attempt}: #{reason}")
    sleep poll_seconds
  end
end
report.call('initialized')

existing = list
missing = statements.reject { |statement| existing.include?(statement[/\Acreate '([^']+)'/, 1]) }
report.call('nothing-missing all Pinpoint tables exist') if missing.empty?
missing.each do |statement|
  table = statement[/\Acreate '([^']+)'/, 1]
  report.call("creating #{table}")
  begin
    eval(statement) # a shell `create` command, evaluated where the shell's commands are defined
  rescue StandardError, java.lang.Exception => e
    # e.g. another bootstrap created it meanwhile: the supervisor's next attempt lists again.
    report.call("create #{table} failed: #{e.class}: #{e.message.to_s.lines.first.to_s.strip}")
    exit 4
  end
  report.call("created #{table}")
end
report.call("done created #{missing.size} table(s)")
exit 0
