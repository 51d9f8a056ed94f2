#!/bin/bash
# Stub of actions/runner's env.sh, sourced by config.sh in the runner root: records PATH in .path
# and a few tool locations in .env (which Runner.Listener loads into its environment at start),
# keeping lines .env already has.

lp_env_vars=(LANG JAVA_HOME ANT_HOME M2_HOME ANDROID_HOME ANDROID_SDK_ROOT GRADLE_HOME NVM_BIN
  NVM_PATH LD_LIBRARY_PATH PERL5LIB)

lp_env_existing=""
if [[ -f .env ]]; then
  lp_env_existing=$(<.env)
else
  : >.env
fi

echo "$PATH" >.path

for lp_env_var in "${lp_env_vars[@]}"; do
  if [[ $'\n'$lp_env_existing != *$'\n'"$lp_env_var="* && -n ${!lp_env_var} ]]; then
    echo "$lp_env_var=${!lp_env_var}" >>.env
  fi
done
unset lp_env_vars lp_env_existing lp_env_var
