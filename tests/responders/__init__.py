"""Protocol responders for the lab and the tests: small servers that answer the way a
product this machine cannot run (SQL Server) documents it, or like another product."""
