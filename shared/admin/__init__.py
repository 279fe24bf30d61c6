"""Operations API and page: room and subscription state, sync events with re-process, conflicts and
onboarding mismatches. No azure.functions import here: functions/admin.py maps it to HTTP."""
