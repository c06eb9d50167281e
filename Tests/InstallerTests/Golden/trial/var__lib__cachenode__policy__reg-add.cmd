@echo off
rem Delivery Optimization: use CacheNode node Trial-1 as the cache server (run as administrator).
rem Windows clients reach a cache host on port 80 only. This node listens on port 8080, so clients
rem given 127.0.0.1:8080 do not use it: set engine.listen to port 80, or give clients a proxy on port 80 in front.
reg add "HKLM\SOFTWARE\Policies\Microsoft\Windows\DeliveryOptimization" /v DOCacheHost /t REG_SZ /d "127.0.0.1:8080" /f
reg add "HKLM\SOFTWARE\Policies\Microsoft\Windows\DeliveryOptimization" /v DODelayCacheServerFallbackForeground /t REG_DWORD /d 60 /f
reg add "HKLM\SOFTWARE\Policies\Microsoft\Windows\DeliveryOptimization" /v DODelayCacheServerFallbackBackground /t REG_DWORD /d 600 /f
