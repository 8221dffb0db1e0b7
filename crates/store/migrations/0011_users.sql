-- nrec schema 11: the user name of a process's uid, as the system named it when the process
-- was first recorded (issue 35 item 7): `top-procs --by user` keeps naming the processes of
-- a user deleted since. NULL: no name resolved (the uid is shown), or recorded before.
ALTER TABLE process ADD COLUMN user BLOB;
