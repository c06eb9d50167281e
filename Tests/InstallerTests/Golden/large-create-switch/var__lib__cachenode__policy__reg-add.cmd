@echo off
rem Delivery Optimization: use CacheNode node HQ-Cache-01 as the cache server (run as administrator).
reg add "HKLM\SOFTWARE\Policies\Microsoft\Windows\DeliveryOptimization" /v DOCacheHost /t REG_SZ /d "cache-host" /f
reg add "HKLM\SOFTWARE\Policies\Microsoft\Windows\DeliveryOptimization" /v DODelayCacheServerFallbackForeground /t REG_DWORD /d 60 /f
reg add "HKLM\SOFTWARE\Policies\Microsoft\Windows\DeliveryOptimization" /v DODelayCacheServerFallbackBackground /t REG_DWORD /d 600 /f
