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
# Lines for the supervisor's log start with "pinpoint-bootstrap:". Exit 0 when every table
# exists; non-zero otherwise (the supervisor retries while its boot budget lasts).
ddl_file = ENV.fetch('PINPOINT_TABLES_DDL')
deadline = Time.now + Integer(ENV.fetch('PINPOINT_MASTER_WAIT_SECONDS'))
poll_seconds = Float(ENV.fetch('PINPOINT_HBASE_POLL_SECONDS', '2'))
statements = File.readlines(ddl_file).map(&:strip).select { |line| line.start_with?("create '") }

attempt = 0
loop do
  attempt += 1
  begin
    list_namespace
    break
  rescue StandardError, java.lang.Exception => e
    reason = "#{e.class}: #{e.message.to_s.lines.first.to_s.strip}"
    if Time.now >= deadline
      puts "pinpoint-bootstrap:timeout master not initialized: #{reason}"
      exit 3
    end
    puts "pinpoint-bootstrap:waiting attempt #{attempt}: #{reason}"
    sleep poll_seconds
  end
end
puts 'pinpoint-bootstrap:initialized'

existing = list
missing = statements.reject { |statement| existing.include?(statement[/\Acreate '([^']+)'/, 1]) }
puts 'pinpoint-bootstrap:nothing-missing all Pinpoint tables exist' if missing.empty?
missing.each do |statement|
  table = statement[/\Acreate '([^']+)'/, 1]
  puts "pinpoint-bootstrap:creating #{table}"
  eval(statement) # a shell `create` command, evaluated where the shell's commands are defined
  puts "pinpoint-bootstrap:created #{table}"
end
puts "pinpoint-bootstrap:done created #{missing.size} table(s)"
exit 0
